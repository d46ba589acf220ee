"""Reading systemctl show (agent/protocol/systemd_show.py): the EnvironmentFiles scan gives what
its regular expression gives."""

from __future__ import annotations

import random
import re

from spctl_agent.protocol import systemd_show


def _random_texts(alphabet, count, seed=7):
    rng = random.Random(seed)
    for _ in range(count):
        yield "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))


def test_env_file_paths_matches_the_pattern():
    pattern = r"(/\S*(?: \S+)*?) \(ignore_errors=(?:yes|no)\)"
    alphabet = [
        " (ignore_errors=yes)",
        " (ignore_errors=no)",
        "/",
        "/etc/a b",
        " ",
        "  ",
        "x",
        "\t",
    ]
    for sample in _random_texts(alphabet, 30000):
        assert systemd_show.env_file_paths(sample) == re.findall(pattern, sample)
    # systemctl show's own lines
    assert systemd_show.env_file_paths("/etc/sysconfig/kubelet (ignore_errors=yes)") == [
        "/etc/sysconfig/kubelet"
    ]
