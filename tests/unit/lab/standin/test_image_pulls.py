"""imagePullPolicy's defaults (standin/image_pulls.py)."""

from __future__ import annotations

from spctl_lab.standin.image_pulls import pull_policy


def test_pull_policy_defaults() -> None:
    assert pull_policy({"image": "spctl-lab/pod:latest"}) == "Always"
    assert pull_policy({"image": "spctl-lab/pod:1.0"}) == "IfNotPresent"
    assert pull_policy({"image": "registry:5000/pod"}) == "Always"
    assert pull_policy({"image": "registry:5000/pod:1.2"}) == "IfNotPresent"
    assert pull_policy({"image": "pod@sha256:" + "0" * 64}) == "IfNotPresent"
    assert pull_policy({"image": "pod:latest", "imagePullPolicy": "Never"}) == "Never"
