"""Editing kubelet flags inside environment files (``KEY="--a=1 --b=2"``).

systemd reads these files and splits an unbraced ``$KEY`` in ExecStart on whitespace, so a
flag value here can never hold spaces; the inventory refuses such directories up front.
Edits keep every other line, comment and flag exactly as they were.
"""

from __future__ import annotations

import re
import shlex
from typing import Optional

# One reading of kubelet flags for the control host and the agent.
from spctl_agent.protocol import flag_value

__all__ = ["flag_value", "get_var", "parse_env", "set_flag", "set_var"]

_ASSIGN = re.compile(r"^(?P<lead>\s*)(?P<key>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.*)$")


def get_var(text: str, key: str) -> Optional[str]:
    """The value of ``key`` (the last assignment wins, as in systemd), unquoted."""
    value = None
    for line in text.splitlines():
        match = _ASSIGN.match(line)
        if match and match.group("key") == key:
            value = _unquote(match.group("value"))
    return value


def parse_env(text: str) -> dict[str, str]:
    """Every assignment of an environment file, unquoted, the last one of a key winning
    (systemd.exec(5), EnvironmentFile=: ``#`` and ``;`` start comments)."""
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.lstrip().startswith(("#", ";")):
            continue
        match = _ASSIGN.match(line)
        if match:
            env[match.group("key")] = _unquote(match.group("value"))
    return env


def set_var(text: str, key: str, value: str) -> str:
    """``text`` with ``key`` set to ``value`` (double-quoted), in place of its last
    assignment, or appended when absent."""
    lines = text.splitlines()
    last = None
    for i, line in enumerate(lines):
        match = _ASSIGN.match(line)
        if match and match.group("key") == key:
            last = i
    new_line = f'{key}="{value}"'
    if last is None:
        lines.append(new_line)
    else:
        lines[last] = _ASSIGN.sub(lambda m: m.group("lead") + new_line, lines[last])
    return "\n".join(lines) + "\n"


def _unquote(raw: str) -> str:
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        return raw[1:-1]
    return raw


def set_flag(args: str, flag: str, value: Optional[str]) -> str:
    """``args`` with every ``--flag`` occurrence replaced by one ``--flag=value`` at the
    place of the first (or appended); ``value=None`` removes the flag."""
    words = shlex.split(args)
    out: list[str] = []
    placed = False
    skip = False
    for i, word in enumerate(words):
        if skip:
            skip = False
            continue
        if word == flag or word.startswith(flag + "="):
            if word == flag and i + 1 < len(words) and not words[i + 1].startswith("--"):
                skip = True
            if not placed and value is not None:
                out.append(f"{flag}={value}")
                placed = True
            continue
        out.append(word)
    if not placed and value is not None:
        out.append(f"{flag}={value}")
    return " ".join(out)
