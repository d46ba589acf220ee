"""HTTP over sockets (agent/system/http.py): a healthz URL's parts as the pattern gives them."""

from __future__ import annotations

import random
import re

from spctl_agent.system import http


def _random_texts(alphabet, count, seed=7):
    rng = random.Random(seed)
    for _ in range(count):
        yield "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))


def test_healthz_url_parts_match_the_pattern():
    pattern = r"http://([^/:]+)(?::(\d+))?(/.*)?$"
    alphabet = ["http://", "127.0.0.1", ":", "10248", "/healthz", "/", "\n", "x", "٣"]
    for sample in _random_texts(alphabet, 30000):
        match = re.match(pattern, sample)
        assert http._parse_url(sample) == (match.groups() if match else None)
