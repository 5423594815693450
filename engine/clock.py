"""The one injectable clock.

Everything in ember that waits, times out or stamps time reads a ``Clock``
passed to it: heartbeat and locality timeouts in the scheduler, segment rolling
and retention in the log store. Tests pass a :class:`ManualClock` and advance
it instead of sleeping (Kafka's MockTime pattern).

Two readings, never mixed: ``monotonic()`` for every duration and timeout (it
never jumps), ``time()`` for wall-clock timestamps that are stored or shown.
"""

from __future__ import annotations

import threading
import time as _time


class Clock:
    """The real clock."""

    def time(self) -> float:
        """Seconds since the epoch (wall clock): for stored timestamps."""
        return _time.time()

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards: for durations."""
        return _time.monotonic()

    def time_ms(self) -> int:
        return int(self.time() * 1000)

    def wait_until(self, when: float, stop: threading.Event) -> bool:
        """Block until ``time()`` reaches ``when`` (True) or ``stop`` is set
        (False): a timer's sleep that a stop interrupts at once."""
        while True:
            remaining = when - self.time()
            if remaining <= 0:
                return True
            if stop.wait(min(remaining, 1.0)):
                return False


SYSTEM_CLOCK = Clock()


class ManualClock(Clock):
    """A clock that moves only when a test calls :meth:`advance`.

    Thread-safe: any thread may read it while a test advances it.
    """

    def __init__(self, start: float = 1_700_000_000.0):
        self._now = float(start)
        self._lock = threading.Condition()

    def time(self) -> float:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        return self.time()

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"a clock cannot go backwards (advance by {seconds})")
        with self._lock:
            self._now += seconds
            self._lock.notify_all()

    def wait_until(self, when: float, stop: threading.Event) -> bool:
        """Block until a test advanced the clock to ``when`` (True) or ``stop``
        is set (False)."""
        with self._lock:
            while self._now < when:
                if stop.is_set():
                    return False
                self._lock.wait(0.05)
            return True


# How long a user's thread blocks at a time in wait_interruptibly.
WAIT_SLICE = 0.2


def wait_interruptibly(event: threading.Event, timeout: float | None = None) -> bool:
    """``event.wait(timeout)`` for the thread a user's Ctrl-C must reach: it
    waits in slices of WAIT_SLICE. A process's SIGINT may be delivered to any
    of its threads, and then nothing wakes a main thread blocked on a lock;
    between slices the interpreter runs the pending handler, so
    KeyboardInterrupt is raised here within a slice."""
    deadline = None if timeout is None else _time.monotonic() + timeout
    while True:
        left = WAIT_SLICE if deadline is None else min(WAIT_SLICE, deadline - _time.monotonic())
        if event.wait(max(left, 0.0)):
            return True
        if deadline is not None and _time.monotonic() >= deadline:
            return False
