"""Running spctl on a pseudo-terminal, as on a user's screen: everything it writes to the
terminal (stdout and stderr, escape sequences included) is collected for assertions."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tests.fakes.cli import SPCTL

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class PtyProcess:
    def __init__(self, args: list[str], cwd: Path, cols: int = 160, rows: int = 50) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
        env.update(TERM="xterm-256color", COLUMNS=str(cols), LINES=str(rows))
        self.proc = subprocess.Popen(
            [SPCTL, *args], stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env
        )
        os.close(slave)
        self.master = master
        self.output = bytearray()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: the last writer closed the terminal
                return
            if not chunk:
                return
            self.output += chunk

    @property
    def screen(self) -> str:
        return self.output.decode(errors="replace")

    @property
    def text(self) -> str:
        """The screen's text without escape sequences (styles, cursor moves)."""
        return ANSI.sub("", self.screen)

    def wait_for(self, condition: Callable[[str], bool], timeout: float = 15.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if condition(self.screen):
                return True
            time.sleep(0.05)
        return condition(self.screen)

    def finish(self, timeout: float = 15.0) -> int:
        try:
            code = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self._reader.join(5)
            os.close(self.master)
        return code
