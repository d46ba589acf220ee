"""The protocol's constants module (agent/protocol/__init__.py): a command-line flag's value, as
the kubelet reads its flags."""

from __future__ import annotations

import pytest
from spctl_agent.protocol import flag_value


@pytest.mark.parametrize(
    "cmdline, value",
    [
        (["kubelet", "--pod-manifest-path=/etc/kubelet.d/"], "/etc/kubelet.d/"),
        (["kubelet", "--pod-manifest-path", "/a", "--pod-manifest-path=/b"], "/b"),
        (["kubelet", "--pod-manifest-path-other=/x"], None),
        (["kubelet", "--pod-manifest-path"], None),
        ("--a=1 --pod-manifest-path '/with space'", "/with space"),
    ],
)
def test_flag_value(cmdline, value):
    assert flag_value(cmdline, "--pod-manifest-path") == value
