"""The driver's console: a progress bar per running stage while an action
waits, and the output of tasks, forwarded from the workers.

Progress bars (``spark.ui.showConsoleProgress``, on by default): an action
that runs longer than ``SHOW_AFTER`` seconds gets one bar per stage of its
job (tasks done of total, elapsed time, rate, tasks running and failed),
drawn with tqdm: a text bar on a terminal, a widget in a notebook (with
ipywidgets; a text bar without).
Nothing is drawn when stderr is neither a terminal nor a notebook's (a
script piped to a file, a test run), so logs stay clean. A small thread per
waiting action polls the scheduler (``DAGScheduler.job_progress``: only that
job's records, answered on the loop thread, so it costs the loop a few
microseconds per poll and never blocks it). Before the action returns, the
bars are set to the final counts and closed, so a successful action's bars
end at 100 %. Polling rather than scheduler events keeps the scheduler free
of any display concern.

Task output: text a task writes to ``sys.stdout``/``sys.stderr`` on a
worker arrives in ``WorkerOutput`` messages (the worker side is
``ember.worker.executor``) and is written to the driver's ``sys.stdout`` /
``sys.stderr`` as they are at that moment (a notebook's cell, pytest's
capture), each line prefixed with the worker and task that wrote it, e.g.
``[w-0: task 3.0 in stage 1] hello``. A task's output is sent before its
result, so it is shown before its action returns. Worker log records at
WARNING and above are logged again on the driver by the ``ember.worker``
logger, so ``Context.setLogLevel`` and the program's logging setup govern
them. Lines written while bars are drawn go above the bars.

Must not know: how the scheduler counts tasks (it reads ``StageProgress``),
or how output travels (it is handed decoded messages).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from typing import Any, Callable, Iterator

SHOW_AFTER = 0.5  # seconds; a quicker action draws nothing (Spark waits 500 ms too)
POLL_INTERVAL = 0.2  # seconds between two polls of a running action's progress
POLL_TIMEOUT = 2.0  # a progress poll that the scheduler does not answer by then is skipped

worker_log = logging.getLogger("ember.worker")

# Serializes writes of forwarded output with the drawing of bars.
_console_lock = threading.RLock()
_terminal_bars = 0  # bars drawn as text right now (guarded by _console_lock)


def in_notebook() -> bool:
    """Whether this process is a Jupyter (IPython) kernel."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # noqa: BLE001 - a half-imported IPython is no notebook
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


def console_visible(stream: Any = None) -> bool:
    """Whether bars written to ``stream`` (stderr by default) would be seen
    as bars: a terminal, or a notebook."""
    if in_notebook():
        return True
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


_quiet = threading.local()


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Draw no bars for the actions this thread runs meanwhile (a streaming
    batch's jobs: its own status line replaces them)."""
    before = getattr(_quiet, "on", False)
    _quiet.on = True
    try:
        yield
    finally:
        _quiet.on = before


Poll = Callable[[list, float], tuple]  # (job ids, timeout) -> ({job id: status}, [StageProgress])


class ConsoleProgress:
    """The progress display of one Context."""

    def __init__(self, poll: Poll, enabled: bool):
        self._poll = poll
        self.enabled = enabled

    @contextlib.contextmanager
    def track(self, job_id: int) -> Iterator[None]:
        """Show the progress of ``job_id`` while the body (waiting for it) runs."""
        if not self.enabled or getattr(_quiet, "on", False) or not console_visible():
            yield
            return
        bars = _JobBars(self._poll, job_id)
        bars.start()
        try:
            yield
        finally:
            bars.finish()


class _JobBars:
    """The bars of one job, updated by a polling thread until ``finish``."""

    def __init__(self, poll: Poll, job_id: int):
        self._poll = poll
        self._job_id = job_id
        self._bars: dict[int, Any] = {}  # stage id -> tqdm
        self._closed: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"ember-progress-{job_id}",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def finish(self) -> None:
        """Stop polling; if bars were drawn, bring them to the final counts
        and close them (the job has ended: its records are final)."""
        self._stop.set()
        self._thread.join()
        if self._bars:
            self._refresh(final=True)

    def _run(self) -> None:
        if self._stop.wait(SHOW_AFTER):
            return
        while not self._stop.is_set():
            self._refresh(final=False)
            self._stop.wait(POLL_INTERVAL)

    def _refresh(self, final: bool) -> None:
        try:
            _, stages = self._poll([self._job_id], POLL_TIMEOUT)
        except Exception:  # noqa: BLE001 - a stopped or busy scheduler: no update, no error
            stages = []
        for stage in stages:
            if stage.stage_id in self._closed or stage.num_tasks == 0:
                continue
            bar = self._bars.get(stage.stage_id)
            if bar is None:
                if final or stage.status != "ACTIVE":
                    continue  # ran and ended between two polls: nothing to watch
                bar = self._bars[stage.stage_id] = _new_bar(stage)
            _update(bar, stage)
            if final or stage.status != "ACTIVE":
                _close(bar)
                self._closed.add(stage.stage_id)
        if final:
            for stage_id, bar in self._bars.items():
                if stage_id not in self._closed:
                    _close(bar)
                    self._closed.add(stage_id)


def _bar_class() -> tuple[Any, bool]:
    """tqdm.auto's choice, made here: a widget in a notebook that has
    ipywidgets, else a text bar (also in a notebook without ipywidgets, where
    tqdm.auto would warn in every cell). Imported on first use (~30 ms)."""
    if in_notebook():
        try:
            import ipywidgets  # noqa: F401
            from tqdm.notebook import tqdm as widget

            return widget, False
        except ImportError:
            pass
    from tqdm.std import tqdm as text

    return text, True


def _new_bar(stage: Any) -> Any:
    global _terminal_bars
    tqdm, textual = _bar_class()

    shape: dict = {"dynamic_ncols": True}  # a widget fills the cell's width
    if textual:
        try:  # a terminal that reports no size (a bare pseudo-terminal) is taken as 80x24
            size = os.get_terminal_size(sys.stderr.fileno())
            sized = size.columns > 0 and size.lines > 0
        except (AttributeError, ValueError, OSError):
            sized = False
        if not sized:
            shape = {"ncols": 80, "nrows": 24}
    with _console_lock:
        bar = tqdm(total=stage.num_tasks, desc=f"Stage {stage.stage_id}", unit="tasks",
                   file=sys.stderr, leave=True, mininterval=0.1, smoothing=0.3, **shape)
        bar.ember_textual = textual
        if textual:
            _terminal_bars += 1
    return bar


def _update(bar: Any, stage: Any) -> None:
    with _console_lock:
        if bar.total != stage.num_tasks:  # a new attempt runs only the missing tasks
            bar.reset(total=stage.num_tasks)
        postfix = {"running": stage.active}
        if stage.failed:
            postfix["failed"] = stage.failed
        bar.set_postfix(postfix, refresh=False)
        if stage.completed != bar.n:
            bar.update(stage.completed - bar.n)
        else:
            bar.refresh()


def _close(bar: Any) -> None:
    global _terminal_bars
    with _console_lock:
        bar.close()
        if bar.ember_textual:
            _terminal_bars -= 1


# --- forwarded task output --------------------------------------------------------


def _prefixed(prefix: str, text: str) -> str:
    lines = text.splitlines(keepends=True)
    return "".join(prefix + (line if line.endswith(("\n", "\r")) else line + "\n")
                   for line in lines)


def _write(stream: Any, text: str) -> None:
    with _console_lock:
        if _terminal_bars:
            from tqdm.std import tqdm

            with tqdm.external_write_mode(file=stream, nolock=False):
                stream.write(text)
                stream.flush()
        else:
            stream.write(text)
            stream.flush()


def forward_output(worker_id: str, message: Any) -> None:
    """Show a ``WorkerOutput`` from ``worker_id``, in order: task output on
    this process's stdout/stderr, log records through the ``ember.worker``
    logger. Called on the driver's I/O thread; never raises."""
    try:
        for kind, tag, payload in message.entries:
            where = f"{worker_id}: {tag}" if tag else worker_id
            if kind == "log":
                levelno, name, text = payload
                worker_log.log(levelno, "[%s] %s: %s", where, name, text)
                continue
            stream = sys.stderr if kind == "stderr" else sys.stdout
            if stream is not None:  # None under pythonw and friends: nowhere to show it
                _write(stream, _prefixed(f"[{where}] ", payload))
    except Exception:  # noqa: BLE001 - a closed or broken stdout must not stop the I/O thread
        logging.getLogger("ember").debug("could not show output of worker %s", worker_id,
                                         exc_info=True)
