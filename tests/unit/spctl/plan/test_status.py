"""Status from facts: the manifest state of each row (pure, no node)."""

from __future__ import annotations

from spctl.desired.inventory import Node, SSHSettings
from spctl.desired.render import DesiredPod
from spctl.plan.status import node_status
from tests.fakes.node_facts import facts_from_case

FEDORA = {
    "units": {"kubelet": {"EnvironmentFiles": "/etc/kubernetes/kubelet (ignore_errors=yes)"}},
    "files": {"/etc/kubernetes/kubelet": 'KUBELET_ARGS="--pod-manifest-path=/etc/kubelet.d/"\n'},
}
NODE = Node(name="my-node1", address="127.0.0.1", ssh=SSHSettings())


def rows(case: dict, desired: dict[str, str]) -> dict[str, tuple[str, str | None]]:
    facts = facts_from_case({**FEDORA, **case})
    pods = [DesiredPod(name, f"{name}.yaml.j2", text) for name, text in desired.items()]
    status = node_status(NODE, facts, pods, list(desired))
    return {p.name: (p.manifest, p.file) for p in status.pods}


def test_manifest_states():
    web = "metadata: {name: static-web}\n"
    case = {
        "dirs": {
            "/etc/kubelet.d": {
                "owned": ["static-web.yaml", "lb.yaml"],
                "static-web.yaml": web,
                "lb.yaml": "metadata: {name: lb}\nspec: {old: true}\n",
                "hand.yaml": "metadata: {name: hand}\n",
            }
        }
    }
    got = rows(
        case, {"static-web": web, "lb": "metadata: {name: lb}\n", "api": "metadata: {name: api}\n"}
    )
    assert got == {
        "static-web": ("in-sync", "/etc/kubelet.d/static-web.yaml"),
        "lb": ("drifted", "/etc/kubelet.d/lb.yaml"),
        "api": ("missing", None),
        "hand": ("unmanaged", "/etc/kubelet.d/hand.yaml"),
    }


def test_a_file_spctl_did_not_write_at_the_pods_path_is_unmanaged():
    web = "metadata: {name: static-web}\n"
    got = rows({"dirs": {"/etc/kubelet.d": {"static-web.yaml": web}}}, {"static-web": web})
    assert got == {"static-web": ("unmanaged", "/etc/kubelet.d/static-web.yaml")}


def test_a_pod_no_longer_in_the_inventory_is_reported():
    facts = facts_from_case(
        {
            **FEDORA,
            "dirs": {
                "/etc/kubelet.d": {"owned": ["old.yaml"], "old.yaml": "metadata: {name: old}\n"}
            },
        }
    )
    status = node_status(NODE, facts, [], [])
    assert [(p.name, p.manifest) for p in status.pods] == [("old", "unmanaged")]
    assert any("no longer assigns it" in w and "spctl remove old" in w for w in status.warnings)


def test_a_recovered_transaction_is_a_warning_of_its_node():
    from dataclasses import replace

    case = {
        "units": {"kubelet": {"DropInPaths": "/x/10-kubeadm.conf"}},
        "files": {"/var/lib/kubelet/config.yaml": "staticPodPath: /etc/kubernetes/manifests\n"},
    }
    node = Node(name="my-node1", address="127.0.0.1", ssh=SSHSettings())
    recovered = {
        "action": "rolled back",
        "holder": "alice@ops",
        "started": "2026-11-28T04:00:00Z",
        "phase": "manifests-written",
        "pods": ["web"],
        "ok": False,
        "problems": ["previous pod web does not run again: not settled within 300s"],
    }
    facts = replace(facts_from_case(case), recovered=recovered)
    warnings = node_status(node, facts, None, []).warnings
    assert any(
        "interrupted spctl run (alice@ops" in w
        and "was rolled back" in w
        and "BUT: previous pod web does not run again" in w
        for w in warnings
    ), warnings
    done = replace(facts, recovered={**recovered, "action": "completed", "problems": []})
    assert any("its change was completed" in w for w in node_status(node, done, None, []).warnings)


def test_a_stale_plan_is_made_again_once_from_fresh_facts():
    import pytest
    from spctl_agent.protocol import STALE_PLAN

    from spctl.errors import NodeError
    from spctl.verbs.deploy import replanned

    calls = []

    def run():
        calls.append(1)
        if len(calls) == 1:
            raise NodeError(f"n1: {STALE_PLAN}: the plan was made while another run ...")
        return "deployed"

    assert replanned(run) == "deployed" and len(calls) == 2

    def always_stale():
        raise NodeError(f"n1: {STALE_PLAN}: ...")

    with pytest.raises(NodeError):  # once only: a node that keeps changing is reported
        replanned(always_stale)

    def other():
        calls.append(1)
        raise NodeError("n1: node is locked")

    calls.clear()
    with pytest.raises(NodeError):
        replanned(other)
    assert len(calls) == 1


def test_a_kubelet_file_edited_without_a_restart_is_a_pending_change():
    """Status reports the directory the running kubelet watches (from its command line),
    with its pods there, and warns that the file names another."""
    web = "metadata: {name: static-web}\n"
    case = {
        **FEDORA,
        "running_dirs": ["/etc/kubelet.d"],
        "kubelets": {"kubelet": {"manifest_dir": "/etc/kubelet.d", "source": "flag"}},
        "files": {"/etc/kubernetes/kubelet": 'KUBELET_ARGS="--pod-manifest-path=/srv/hand"\n'},
        "dirs": {"/etc/kubelet.d": {"owned": ["static-web.yaml"], "static-web.yaml": web}},
    }
    facts = facts_from_case(case)
    pods = [DesiredPod("static-web", "static-web.yaml.j2", web)]
    status = node_status(NODE, facts, pods, ["static-web"])
    assert status.manifest_dir == "/etc/kubelet.d"
    assert [(p.manifest, p.file) for p in status.pods] == [
        ("in-sync", "/etc/kubelet.d/static-web.yaml")
    ]
    assert any(
        "running kubelet watches /etc/kubelet.d" in w and "names /srv/hand" in w
        for w in status.warnings
    ), status.warnings


def test_entries_that_are_not_files_are_named_by_type():
    from dataclasses import replace

    from spctl.facts import DirEntry

    facts = facts_from_case({**FEDORA, "dirs": {"/etc/kubelet.d": {}}})
    entries = (
        DirEntry(name="pipe", type="fifo"),
        DirEntry(name="x", type="symlink"),
        DirEntry(name="zero", type="char-device"),
        DirEntry(name="sub", type="dir"),
        DirEntry(name=".hidden", type="fifo"),
    )
    facts = replace(facts, dirs={"/etc/kubelet.d": entries})
    warnings = node_status(NODE, facts, [], []).warnings
    assert [w.split(":")[0] for w in warnings] == [
        "/etc/kubelet.d/pipe is a fifo",
        "/etc/kubelet.d/x is a symlink",
        "/etc/kubelet.d/zero is a char-device",
    ], warnings
    assert "never follows links" in warnings[1]


def test_status_names_the_runtime_and_the_cri_version_the_agent_spoke():
    endpoint = "unix:///run/containerd/containerd.sock"
    old_runtime = {"runtime": "cri", "endpoint": endpoint, "cri_version": "v1alpha2", "pods": []}
    shown = node_status(NODE, facts_from_case({**FEDORA, "runtime": old_runtime}), [], [])
    assert shown.as_dict()["runtime"] == {
        "kind": "cri",
        "endpoint": endpoint,
        "cri_version": "v1alpha2",
    }
    docker = node_status(NODE, facts_from_case(FEDORA), [], []).as_dict()["runtime"]
    assert docker == {"kind": "docker", "endpoint": None, "cri_version": None}
