"""The kubelet's log lines on stderr, which journald collects, in either of its formats, and
QuietLog for conditions that repeat.

The format is klog's text unless the node's configuration asks for JSON
(``--logging-format=json`` or ``logging.format: json``; config.py): component-base's
k8s.io/component-base/logs/json/json.go, as zapr writes it (LogInfoLevel "v", ErrorKey
"err"): one object a line with ``ts`` (epoch milliseconds, a number), ``caller``, ``msg``, ``v``
(a number) on info and warning lines (klog gives warnings to logr's Info), then the call's
keys in order, and on an error line ``err`` last. The text format writes an ErrorS's ``err``
first (klog's printS). A pod is klog.KObj: ``"<namespace>/<name>"`` in text, ``{"name",
"namespace"}`` in JSON; here a ``pod`` value is given as that text.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime
from typing import Any, Dict, Tuple

FORMATS = ("text", "json")
_format = {"name": "text"}

# The package directory of each file the stand-in names, for JSON's caller (zapcore's
# ShortCallerEncoder writes "<dir>/<file>:<line>"; the stand-in has no line to give).
_PACKAGES = {
    "file.go": "config",
    "file_linux.go": "config",
    "http.go": "config",
    "config.go": "config",
    "common.go": "config",
    "kubelet.go": "kubelet",
    "pod_workers.go": "kubelet",
    "kuberuntime_container.go": "kuberuntime",
    "kuberuntime_manager.go": "kuberuntime",
    "server.go": "app",
    "run.go": "app",
    "codec.go": "codec",
}


def set_format(name: str) -> None:
    """From here on, lines are written in this format ("text" or "json")."""
    if name not in FORMATS:
        raise ValueError(f"unsupported log format {name!r}")
    _format["name"] = name


def log_format() -> str:
    return _format["name"]


def log(sev: str, where: str, msg: str, **kv: Any) -> None:
    """One line on stderr, in the configured format:
    E1128 12:00:00.000000    42 file.go] "Could not process manifest file" err="..." path="..."
    {"ts":1764331200000.123,"caller":"config/file.go","msg":"...","path":"...","err":"..."}
    """
    line = (
        json_line(sev, where, msg, kv)
        if _format["name"] == "json"
        else text_line(sev, where, msg, kv)
    )
    print(line, file=sys.stderr, flush=True)


def text_line(sev: str, where: str, msg: str, kv: Dict[str, Any]) -> str:
    if sev == "E" and "err" in kv:
        kv = {"err": kv["err"], **{k: v for k, v in kv.items() if k != "err"}}
    fields = "".join(f" {key}={_text_value(value)}" for key, value in kv.items())
    stamp = f"{datetime.now():%m%d %H:%M:%S.%f}"
    return f"{sev}{stamp} {os.getpid():>7} {where}] {json.dumps(msg, ensure_ascii=False)}{fields}"


def json_line(sev: str, where: str, msg: str, kv: Dict[str, Any]) -> str:
    package = _PACKAGES.get(where)
    record: Dict[str, Any] = {
        "ts": time.time() * 1000,
        "caller": f"{package}/{where}" if package else where,
        "msg": msg,
    }
    if sev != "E":
        record["v"] = 0
    err = kv.get("err") if sev == "E" else None
    for key, value in kv.items():
        if not (sev == "E" and key == "err"):
            record[key] = _json_value(key, value)
    if err is not None:
        record["err"] = str(err)
    return json.dumps(record, ensure_ascii=False, default=str, separators=(",", ":"))


def _json_value(key: str, value: Any) -> Any:
    if key == "pod" and isinstance(value, str) and "/" in value:
        namespace, _, name = value.partition("/")
        return {"name": name, "namespace": namespace}
    if key == "pods" and isinstance(value, list):
        return [_json_value("pod", v) for v in value]
    if isinstance(value, BaseException):
        return str(value)
    return value


def _text_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, BaseException):
        value = str(value)
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


def go_quote(text: str) -> str:
    """Go's %q of a string (strconv.Quote): printable characters as they are, the usual
    escapes, other control characters as \\x.. or \\u...."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in "\a\b\f\n\r\t\v":
            out.append("\\" + "abfnrtv"["\a\b\f\n\r\t\v".index(ch)])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif not ch.isprintable():
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


class QuietLog:
    """Logs a recurring condition when it appears or changes, then once every ``interval``
    seconds while it lasts (60: the lab re-lists every second, and one broken file must not
    flood the journal; 0: every time, as the kubelet does)."""

    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval
        self._last: Dict[Any, Tuple[str, float]] = {}

    def say(self, key: Any, sev: str, where: str, msg: str, **kv: Any) -> None:
        text, now = msg + repr(sorted(kv.items())), time.monotonic()
        last = self._last.get(key)
        if last is None or last[0] != text or now - last[1] >= self.interval:
            self._last[key] = (text, now)
            log(sev, where, msg, **kv)

    def clear(self, key: Any) -> None:
        """The condition is over: its next occurrence is logged at once."""
        self._last.pop(key, None)

    def clear_about(self, uid: str) -> None:
        """Forget every condition whose key names this pod UID (the pod is gone)."""
        for key in [k for k in self._last if isinstance(k, tuple) and uid in k]:
            del self._last[key]
