"""Task output: what tasks print and what the worker logs, sent to the driver.

A worker's stdout and stderr are its parent's (a terminal, or nowhere a
notebook user can see), so what a task writes to ``sys.stdout`` or
``sys.stderr`` is captured and sent to the driver in ``WorkerOutput``
messages, which shows it tagged with the worker and the task (on its own
stderr: the driver's stdout is the program's). Log records at
WARNING and above, from any thread, travel the same way and are logged again
by the driver (``ember.driver.progress``).

Capture: ``install()`` replaces ``sys.stdout`` and ``sys.stderr`` with streams
that hand a write to the task running on the writing thread (``begin``/``end``
bracket a task on its slot thread). A write from any other thread (the
worker's own messages, a thread a task started) goes to the real stream, as
before. What the real file descriptors receive directly (C extensions,
subprocesses, ``pipe``) is not captured.

Order and timing: a task's text is buffered and sent by the ``ember-task-output``
thread in batches, whole lines only, once the oldest unsent line is
``FLUSH_INTERVAL`` old (or ``MAX_BUFFER`` bytes wait), so a chatty task costs
one message per batch, not per line. The rest (a partial last line included)
is sent when the task ends, before its StatusUpdate, so the driver shows a
task's output before its action returns. Messages of one task must leave
through one socket to stay in order (ZeroMQ does not order messages sent by
two threads): a task whose output was never sent early sends its output and
status itself (``end`` returns them); a task whose output started streaming
hands its last output and its status to the output thread, which sends them
after its earlier batches.

Log records: a handler on the root logger forwards records at WARNING and
above (a task's into the task's buffer, to keep them in order with its
output). The worker's own stderr handlers then skip forwarded records below
ERROR, which the driver shows; ERROR and above are still written locally, as
they often precede the worker's exit, which could lose the forwarded copy. A
record logged with ``extra={"ember_local": True}`` is never forwarded.

Thread-safety: every method may be called from any thread; the buffers are
guarded by one condition variable.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any, Callable

from ember.engine.wire.protocol import WorkerOutput, encode

FLUSH_INTERVAL = 0.1  # seconds a complete line may wait, to batch the lines after it
MAX_BUFFER = 64 * 1024  # bytes of one task's output that may wait


class _TaskBuffer:
    __slots__ = ("tag", "entries", "size", "streamed")

    def __init__(self, tag: str):
        self.tag = tag
        # [kind, pieces]: consecutive writes to one stream share an entry, and
        # are joined only when sent (no quadratic string building).
        self.entries: list[list] = []
        self.size = 0
        self.streamed = False  # some of its output already left through the output thread

    def add(self, kind: str, payload: Any) -> None:
        if kind != "log" and self.entries and self.entries[-1][0] == kind:
            self.entries[-1][1].append(payload)
        else:
            self.entries.append([kind, [payload]])
        if kind != "log":
            self.size += len(payload)

    def take_lines(self, everything: bool) -> list[tuple]:
        """Entries up to the end of the last complete line (all of them when
        ``everything``), as (kind, tag, payload)."""
        entries = [(kind, "".join(pieces) if kind != "log" else pieces[0])
                   for kind, pieces in self.entries]
        rest: list[tuple] = []
        if not everything:
            last = next((i for i in range(len(entries) - 1, -1, -1)
                         if entries[i][0] == "log" or "\n" in entries[i][1]), None)
            if last is None:
                return []
            kind, payload = entries[last]
            rest = entries[last + 1:]
            entries = entries[:last]
            if kind == "log":
                entries.append((kind, payload))
            else:
                head, _, tail = payload.rpartition("\n")
                entries.append((kind, head + "\n"))
                if tail:
                    rest.insert(0, (kind, tail))
        self.entries = [[kind, [payload]] for kind, payload in rest]
        self.size = sum(len(payload) for kind, payload in rest if kind != "log")
        return [(kind, self.tag, payload) for kind, payload in entries]


class TaskOutput:
    def __init__(self, send: Callable[[list], None]):
        self._send = send
        self._cond = threading.Condition()
        self._local = threading.local()
        self._buffers: list[_TaskBuffer] = []  # of the running tasks
        self._loose: list[tuple] = []  # log entries from threads outside tasks
        self._since: float | None = None  # when the oldest unsent entry was written
        self._outbox: list[list] = []  # (frames) a task handed over to be sent in order
        self._thread = threading.Thread(target=self._run, name="ember-task-output", daemon=True)
        self._installed = False

    def install(self) -> "TaskOutput":
        """Capture sys.stdout/sys.stderr and forward log records from now on."""
        if self._installed:
            return self
        self._installed = True
        sys.stdout = _TaskStream("stdout", sys.stdout, self)
        sys.stderr = _TaskStream("stderr", sys.stderr, self)
        root = logging.getLogger()
        for handler in root.handlers:
            handler.addFilter(_not_shown_by_driver)
        root.handlers.insert(0, _ForwardingHandler(self))  # first: it marks what it forwards
        self._thread.start()
        return self

    # --- the task's slot thread ---------------------------------------------------

    def begin(self, tag: str) -> None:
        buffer = _TaskBuffer(tag)
        with self._cond:
            self._buffers.append(buffer)
        self._local.buffer = buffer

    def end(self) -> tuple[list | None, bool]:
        """The task ended: its last output as frames (None if there is none),
        and whether they, and its status after them, must be handed to
        ``send_in_order`` (its output started streaming) or may be sent by the
        caller."""
        buffer = getattr(self._local, "buffer", None)
        if buffer is None:
            return None, False
        self._local.buffer = None
        with self._cond:
            self._buffers.remove(buffer)
            entries = buffer.take_lines(everything=True)
        frames = encode(WorkerOutput(tuple(entries))) if entries else None
        return frames, buffer.streamed

    def send_in_order(self, messages: list[list]) -> None:
        """Send after everything already sent by the output thread."""
        with self._cond:
            self._outbox.extend(messages)
            self._cond.notify()

    # --- writers --------------------------------------------------------------------

    def write(self, kind: str, text: str) -> bool:
        """Buffer text of the task running on this thread; False when this
        thread runs no task."""
        buffer = getattr(self._local, "buffer", None)
        if buffer is None:
            return False
        with self._cond:
            buffer.add(kind, text)
            if self._since is None:
                self._since = time.monotonic()
                self._cond.notify()
            elif buffer.size >= MAX_BUFFER:
                self._cond.notify()
        return True

    def log(self, levelno: int, name: str, message: str) -> None:
        buffer = getattr(self._local, "buffer", None)
        with self._cond:
            if buffer is not None:
                buffer.add("log", (levelno, name, message))
            else:
                self._loose.append(("log", "", (levelno, name, message)))
            if self._since is None:
                self._since = time.monotonic()
                self._cond.notify()

    # --- the output thread ----------------------------------------------------------

    def _due(self, now: float) -> bool:
        return self._since is not None and (
            now - self._since >= FLUSH_INTERVAL or any(b.size >= MAX_BUFFER for b in self._buffers))

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    now = time.monotonic()
                    if self._outbox or self._due(now):
                        break
                    self._cond.wait(None if self._since is None
                                    else self._since + FLUSH_INTERVAL - now)
                entries = list(self._loose)
                self._loose.clear()
                if self._due(now):
                    for buffer in self._buffers:
                        taken = buffer.take_lines(everything=buffer.size >= MAX_BUFFER)
                        if taken:
                            buffer.streamed = True
                            entries += taken
                    # What is left is partial lines: they wait for their newline
                    # (the next write restarts the clock) or for the task's end.
                    self._since = None
                outbox, self._outbox = self._outbox, []
            # Never dies: statuses wait in the outbox. Output that cannot be
            # sent (a closed endpoint: the worker is ending) is dropped.
            try:
                if entries:
                    self._send(encode(WorkerOutput(tuple(entries))))
            except Exception:  # noqa: BLE001
                pass
            for frames in outbox:
                try:
                    self._send(frames)
                except Exception:  # noqa: BLE001
                    pass


class _TaskStream:
    """sys.stdout/sys.stderr of a worker: a task's writes go to the driver,
    the rest to the real stream (which also answers everything else)."""

    def __init__(self, kind: str, real: Any, output: TaskOutput):
        self._kind = kind
        self._real = real
        self._output = output

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if not self._output.write(self._kind, text):
            return self._real.write(text)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._real is not None:
            self._real.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _not_shown_by_driver(record: logging.LogRecord) -> bool:
    return not getattr(record, "ember_forwarded", False) or record.levelno >= logging.ERROR


class _ForwardingHandler(logging.Handler):
    def __init__(self, output: TaskOutput):
        super().__init__(logging.WARNING)
        self._output = output

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "ember_local", False):
            return
        try:
            self._output.log(record.levelno, record.name, self.format(record))
            record.ember_forwarded = True
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)
