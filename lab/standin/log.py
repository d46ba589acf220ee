"""klog-style log lines on stderr, which journald collects, and QuietLog for conditions that
repeat."""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime
from typing import Any, Dict, Tuple


def log(sev: str, where: str, msg: str, **kv: Any) -> None:
    """A klog-style line on stderr, which journald collects:
    E1128 12:00:00.000000    42 file.go] "Could not process manifest file" path="..." err="..."
    """
    fields = "".join(f" {key}={_log_value(value)}" for key, value in kv.items())
    stamp = f"{datetime.now():%m%d %H:%M:%S.%f}"
    print(f'{sev}{stamp} {os.getpid():>7} {where}] "{msg}"{fields}', file=sys.stderr, flush=True)


def _log_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, BaseException):
        value = str(value)
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


class QuietLog:
    """Logs a recurring condition when it appears or changes, then once a minute while it
    lasts: the lab re-lists every second, and one broken file must not flood the journal."""

    def __init__(self) -> None:
        self._last: Dict[Any, Tuple[str, float]] = {}

    def say(self, key: Any, sev: str, where: str, msg: str, **kv: Any) -> None:
        text, now = msg + repr(sorted(kv.items())), time.monotonic()
        last = self._last.get(key)
        if last is None or last[0] != text or now - last[1] >= 60:
            self._last[key] = (text, now)
            log(sev, where, msg, **kv)

    def clear(self, key: Any) -> None:
        """The condition is over: its next occurrence is logged at once."""
        self._last.pop(key, None)
