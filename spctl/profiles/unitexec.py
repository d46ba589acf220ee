"""What a systemd unit really runs: its ExecStart= with the variables of its environment files.

k3s and rke2 rewrite their process title, so ``/proc/PID/cmdline`` does not show their
flags, and a kubelet that is not running has no command line at all. What systemd would
start is the unit's ExecStart (``systemctl show``, unexpanded) with the variables of its
EnvironmentFiles, read in order, a later assignment winning (systemd.exec(5),
EnvironmentFile=). Expansion follows systemd.service(5), "Command lines": ``$FOO`` as a word
of its own becomes the value split at whitespace (zero or more words); ``${FOO}`` becomes
the exact value, one word; an unbraced ``$FOO`` inside a longer word stays as written
(src/basic/env-util.c: ``replace_env_argv`` splits a word that is exactly ``$FOO`` and
calls ``replace_env`` without REPLACE_ENV_ALLOW_BRACELESS for every other word). Values in
an environment file are not expanded themselves (``load_env_file``).
"""

from __future__ import annotations

import re
from typing import Optional

from spctl.facts import NodeFacts, Unit
from spctl.profiles.envfile import parse_env

_WORD_VAR = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")
_BRACED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def unit_env(facts: NodeFacts, unit: Unit) -> dict[str, str]:
    """The variables of the unit's ``Environment=``, then of its environment files, which
    override them (systemd.exec(5), EnvironmentFile=); files the agent could not read count
    as empty, as systemd does for ``-/path``."""
    env: dict[str, str] = dict(item.split("=", 1) for item in unit.environment)
    for path in unit.environment_files:
        env.update(parse_env(facts.file(path) or ""))
    return env


def expand(argv: tuple[str, ...], env: dict[str, str]) -> list[str]:
    words: list[str] = []
    for word in argv:
        whole = _WORD_VAR.match(word)
        if whole:
            words += env.get(whole.group(1), "").split()
        else:
            words.append(_BRACED.sub(lambda m: env.get(m.group(1), ""), word))
    return words


def unit_argv(facts: NodeFacts, unit: Unit) -> Optional[list[str]]:
    """The main command's argv as systemd starts it (the last ExecStart= line: the service
    types spctl meets, simple, exec and notify, allow one command), or None when the agent
    reported no ExecStart."""
    if not unit.exec_start:
        return None
    return expand(unit.exec_start[-1], unit_env(facts, unit))
