"""A driver program run on a pseudo-terminal, as a user runs it in a shell.

``Terminal(script)`` starts ``python script`` as the session leader of a new
pseudo-terminal (80x24), so its stdin, stdout and stderr are a terminal and a
Ctrl-C typed there (``interrupt()``) reaches its foreground process group, as
in a shell. Everything the program writes is collected; ``wait_for`` waits for
a piece of it. ``close()`` (also on ``with`` exit) reaps the program, killing
it by PID if it is still running, and closes the terminal.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time


class Terminal:
    def __init__(self, script: str, cwd: str, columns: int = 80, rows: int = 24):
        pid, fd = pty.fork()
        if pid == 0:  # the child: exec at once (nothing else may run after a fork)
            try:
                os.chdir(cwd)
                os.execv(sys.executable, [sys.executable, script])
            finally:
                os._exit(127)
        self.pid, self._fd = pid, fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.output = ""
        self.returncode: int | None = None

    def _read(self, timeout: float) -> bool:
        """Collect what is ready within ``timeout``; False at the end of output."""
        ready, _, _ = select.select([self._fd], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self._fd, 65536)
        except OSError:  # EIO: the program closed the terminal (it exited)
            return False
        if not data:
            return False
        self.output += data.decode("utf-8", "replace")
        return True

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(min(left, 0.2)):
                if text in self.output:
                    break
                raise AssertionError(f"{text!r} did not appear within {timeout} s; "
                                     f"the terminal shows:\n{self.output}")
        return self.output

    def wait_until(self, predicate, what: str, timeout: float = 30.0) -> None:
        """Collect output until ``predicate()`` holds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} did not happen within {timeout} s; the terminal "
                                     f"shows:\n{self.output}")
            self._read(0.1)

    def interrupt(self) -> None:
        """Type Ctrl-C."""
        os.write(self._fd, b"\x03")

    def finish(self, timeout: float = 60.0) -> str:
        """Read until the program exits; its whole output."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._read(min(0.2, deadline - time.monotonic())):
            pass
        self.close()
        return self.output

    def close(self) -> None:
        if self.returncode is None:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if not done:
                os.kill(self.pid, signal.SIGKILL)
                done, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
            os.close(self._fd)

    def __enter__(self) -> "Terminal":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
