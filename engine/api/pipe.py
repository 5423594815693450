"""``RDD.pipe``: each partition through an external command.

Per partition, on the worker: the command (split like a shell would split
it, never run through a shell) starts with exactly the environment ``env``
(PySpark's rule: the worker's own environment is not inherited); a feeder
thread writes each element's ``str`` as one UTF-8 line to its stdin and
closes it; the partition's records are the command's stdout lines, without
their newline. With ``checkCode``, a non-zero exit status fails the task
once stdout is drained. A command that exits without reading all of its
input is not an error (``head`` does that). If the consumer stops early
(``take``), the process is killed and reaped: nothing outlives the task.
"""

from __future__ import annotations

import shlex
import subprocess
import threading
from typing import IO, Iterable, Iterator

from ember.engine.api.task_context import TaskContext


class PipeCommand:
    def __init__(self, command: str, env: dict, check_code: bool):
        self.command = command
        self.argv = shlex.split(command)
        self.env = dict(env)
        self.check_code = check_code

    def __call__(self, _: int, iterator: Iterable) -> Iterator[str]:
        process = subprocess.Popen(self.argv, env=self.env, stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE)
        errors: list[BaseException] = []
        feeder = threading.Thread(target=_feed, name="ember-pipe-feeder", daemon=True,
                                  args=(iterator, process.stdin, TaskContext.get(), errors))
        feeder.start()
        finished = False
        try:
            for line in process.stdout:
                yield line.rstrip(b"\n").decode("utf-8")
            finished = True
        finally:
            if not finished:
                process.kill()
            process.stdout.close()
            code = process.wait()
            feeder.join()
        if errors:  # computing the input failed: that is the task's failure
            raise errors[0]
        if self.check_code and code:
            raise RuntimeError(f"Pipe function `{self.command}' exited with error code {code}")


def _feed(iterator: Iterable, stdin: IO[bytes], context: TaskContext | None,
          errors: list) -> None:
    # The input is computed in this thread: it must see the task's context.
    TaskContext._set(context)
    try:
        for item in iterator:
            line = str(item).rstrip("\n").encode("utf-8") + b"\n"
            try:
                stdin.write(line)
            except (BrokenPipeError, ValueError):
                return  # the command stopped reading (or was killed): its output is what counts
    except BaseException as error:  # noqa: BLE001 - handed to the task thread
        errors.append(error)
    finally:
        TaskContext._set(None)
        try:
            stdin.close()
        except BrokenPipeError:
            pass
