"""Waiting in tests: the suite's one way to poll until something holds.

The machine a test runs on may be slow and shared, so a test never asserts
how long something takes; it polls for the state it expects with a generous
deadline and, past it, fails with an error that says what it waited for.
"""

from __future__ import annotations

import time


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05, what: str = "the condition"):
    """Call ``predicate`` every ``interval`` seconds until it returns a truthy
    value, and return that value; raise AssertionError naming ``what`` once
    ``timeout`` seconds have passed without one."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
