"""The open-file limit spctl raises so that a large fleet's connections fit in one process."""

from __future__ import annotations

import subprocess
import sys

from spctl.limits import raise_nofile


class FakeResource:
    RLIMIT_NOFILE = 7
    RLIM_INFINITY = -1

    def __init__(self, soft: int, hard: int, refuse: bool = False) -> None:
        self.limits = (soft, hard)
        self.refuse = refuse

    def getrlimit(self, which: int) -> tuple[int, int]:
        assert which == self.RLIMIT_NOFILE
        return self.limits

    def setrlimit(self, which: int, limits: tuple[int, int]) -> None:
        if self.refuse:
            raise ValueError("not allowed")
        self.limits = limits


def test_raise_nofile_lifts_the_soft_limit_to_the_hard_one():
    res = FakeResource(1024, 524288)
    assert raise_nofile(res) == (524288, 524288)
    assert res.limits == (524288, 524288)


def test_raise_nofile_caps_an_unlimited_hard_limit_and_keeps_a_refusal():
    res = FakeResource(1024, FakeResource.RLIM_INFINITY)
    assert raise_nofile(res)[0] == 1 << 20
    refused = FakeResource(1024, 4096, refuse=True)
    assert raise_nofile(refused) == (1024, 4096)
    assert refused.limits == (1024, 4096)


def test_spctl_runs_with_the_hard_limit():
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))\n"
        "from spctl.limits import raise_nofile\n"
        "raise_nofile()\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "print(soft == hard or soft == 1 << 20)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "True"
