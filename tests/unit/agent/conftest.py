"""Fixtures the agent's tests share."""

from __future__ import annotations

import signal

import pytest


@pytest.fixture
def no_hang():
    """Fail instead of hanging when something opens a FIFO for reading."""

    def fail(*_):
        raise AssertionError("blocked")

    old = signal.signal(signal.SIGALRM, fail)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)
