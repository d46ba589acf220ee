"""Setting scans without re (agent/system/text.py) give what the regular expression gives."""

from __future__ import annotations

import random
import re

from spctl_agent.system import text


def _random_texts(alphabet, count, seed=7):
    rng = random.Random(seed)
    for _ in range(count):
        yield "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))


def test_yaml_setting_matches_the_pattern():
    pattern = re.compile(r"^staticPodPath:\s*['\"]?([^'\"\s#]+)", re.M)
    alphabet = ["staticPodPath:", "\n", " ", "'", '"', "#", "/etc/k", "x", "\t", "\u00a0"]
    alphabet.append("staticPodPath: /etc/kubernetes/manifests # the default\n")
    for sample in _random_texts(alphabet, 30000):
        match = pattern.search(sample)
        assert text.yaml_setting(sample, "staticPodPath") == (match and match.group(1))
