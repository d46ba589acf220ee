"""The lab's kube-apiserver stand-in manifest (lab/control_plane.py): a valid static pod in
kubeadm's shape, differing between control-plane nodes only by the advertise address."""

from __future__ import annotations

import difflib

import yaml
from spctl_lab.control_plane import PORT, apiserver_manifest

from spctl.desired.validation.static_pod import validate_pod


def test_manifest_is_a_valid_static_pod_in_kubeadms_shape() -> None:
    pod = yaml.safe_load(apiserver_manifest("10.0.0.11"))
    assert validate_pod(pod, "cp1") == []
    assert pod["metadata"]["labels"] == {"component": "kube-apiserver", "tier": "control-plane"}
    assert pod["metadata"]["namespace"] == "kube-system" and pod["spec"]["hostNetwork"] is True
    assert pod["metadata"]["creationTimestamp"] is None and pod["status"] == {}
    (container,) = pod["spec"]["containers"]
    command = container["command"]
    assert all(isinstance(arg, str) for arg in command)
    # The stand-in's script gets kube-apiserver's flags as its arguments ($0 and "$@").
    assert command[:2] == ["/bin/sh", "-c"] and command[3] == "kube-apiserver"
    assert f"--secure-port={PORT}" in command and "--advertise-address=10.0.0.11" in command
    for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
        get = container[probe]["httpGet"]
        assert (get["host"], get["path"], get["port"]) == ("10.0.0.11", path, PORT)
    assert container["startupProbe"]["httpGet"]["path"] == "/livez"


def test_nodes_differ_only_by_their_address() -> None:
    one = apiserver_manifest("10.0.0.11").splitlines()
    two = apiserver_manifest("10.0.0.12").splitlines()
    changed = [
        line for line in difflib.unified_diff(one, two, n=0, lineterm="")
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]  # fmt: skip
    assert len(changed) == 10  # annotation, --advertise-address, three probe hosts
    assert all("10.0.0.1" in line for line in changed)
