"""The kubelet's network gate (standin/network.py): the error text as kubelet.go and
RuntimeCondition.String write it, and cri-dockerd's CNI readiness."""

from __future__ import annotations

from spctl_lab.standin.docker import DockerRuntime
from spctl_lab.standin.network import (
    NetworkGate,
    cni_config_problem,
    cri_dockerd_conditions,
    network_error,
)

CONFLIST = '{"cniVersion": "0.4.0", "name": "n", "plugins": [{"type": "bridge"}]}'


def test_the_error_reads_as_the_kubelets():
    conditions = cri_dockerd_conditions("/nonexistent")
    assert network_error(conditions) == (
        "container runtime network not ready: NetworkReady=false "
        "reason:NetworkPluginNotReady message:docker: network plugin is not ready: "
        "cni config uninitialized"
    )
    assert network_error([]) == "container runtime network not ready: <nil>"
    assert network_error([{"type": "NetworkReady", "status": True}]) is None


def test_cri_dockerd_needs_a_network_in_its_cni_directory(tmp_path):
    assert cni_config_problem(str(tmp_path)) == "cni config uninitialized"
    (tmp_path / "10-broken.conflist").write_text("{not json")
    (tmp_path / "20-empty.conflist").write_text('{"name": "n", "plugins": []}')
    (tmp_path / "README").write_text(CONFLIST)  # not a config file's name
    assert cni_config_problem(str(tmp_path)) == "cni config uninitialized"
    (tmp_path / "30-ok.conflist").write_text(CONFLIST)
    assert cni_config_problem(str(tmp_path)) is None


def test_only_pods_that_are_not_host_network_are_refused():
    class Runtime:
        answer = cri_dockerd_conditions("/nonexistent")

        def conditions(self):
            return self.answer

    gate = NetworkGate(Runtime())
    assert gate.refuses({}) is None  # not asked yet
    assert gate.refresh(now=100.0) and not gate.refresh(now=104.0)
    assert gate.refuses({"hostNetwork": True}) is None
    assert gate.refuses({}).startswith("network is not ready: container runtime network not ready")


def test_the_old_dockershim_is_always_ready_and_cri_dockerd_reads_cni():
    assert network_error(DockerRuntime(None).conditions()) is None
    assert DockerRuntime(None, network_plugin="cni").network_plugin == "cni"
