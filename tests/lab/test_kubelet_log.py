"""The kubelet's reasons as spctl reads them from the node's journal, in the kubelet's two log
formats, and with the kubelet's real re-list period.

Nodes: my-node6 (kubeadm-deb: containerd; its /var/lib/kubelet/config.yaml gets
``logging.format: json`` or loses the lab's 1 s re-list for a test, and gets both back after)
and my-node1 (fedora: Docker, klog text). A file the kubelet rejects comes from a kubelet
that models 1.31 (environment variable names must be C-like there, while spctl validates
with 1.34's rules); a container that cannot start runs a command that is not in the image.
Each test leaves static-web deployed as the lab's inventory has it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.lab import (
    RELEASE_DROPIN,
    WEB,
    LabSession,
    deploy_json,
    inventory,
    release_dropin,
    restart_kubelet,
    sha,
    spctl_json,
)

MANIFEST = "/etc/kubernetes/manifests/static-web.yaml"
CONFIG = "/var/lib/kubelet/config.yaml"
DROPINS = "/etc/systemd/system/kubelet.service.d"
STANDIN_DROPIN = f"{DROPINS}/90-spctl-lab-standin.conf"  # the lab's 1 s re-list
# A variable name 1.31 refuses (RelaxedEnvironmentVariableValidation is off there).
REJECTED = WEB + '      env:\n        - {name: 1ST_PORT, value: "8080"}\n'
NOT_IN_IMAGE = WEB.replace(
    "      image: {{ image }}\n", "      image: {{ image }}\n      command: [/no/such/command]\n"
)


def pod_error(result: dict) -> str:
    return result["nodes"][0]["pods"][0]["error"] or ""


def last_kubelet_lines(lab: LabSession, node: str, n: int = 3) -> list[str]:
    # The kubelet's own lines (its stderr), not systemd's about the unit.
    script = f"journalctl -u kubelet _TRANSPORT=stdout -o cat -n {n} --no-pager"
    return lab.out(node, script).splitlines()


@pytest.fixture
def json_node(lab: LabSession) -> Iterator[str]:
    """my-node6's kubelet logs in JSON (logging.format in its config file) and models 1.31."""
    node = "my-node6"
    spctl_json("deploy", "--node", node, "--stable-for", "1")
    lab.out(
        node,
        f"cp {CONFIG} /root/config.yaml.saved && printf 'logging:\\n  format: json\\n' >> {CONFIG}"
        " && " + release_dropin("1.31"),
    )
    restart_kubelet(lab, node)
    yield node
    lab.out(node, f"mv /root/config.yaml.saved {CONFIG} && rm -f {RELEASE_DROPIN}")
    restart_kubelet(lab, node)
    spctl_json("deploy", "--node", node, "--stable-for", "1")


def test_a_node_logging_json_fails_a_rejected_file_fast_with_the_kubelets_message(
    lab: LabSession, tmp_path: Path, json_node: str
) -> None:
    node = json_node
    lines = last_kubelet_lines(lab, node)
    assert lines and all(json.loads(line)["ts"] for line in lines), lines  # JSON, really
    before = (sha(lab, node, MANIFEST), sorted(lab.running_pod_uids(node, "web")))
    path = inventory(tmp_path, "env", templates={"static-web": REJECTED})
    code, result, _, _ = deploy_json(path, node, 120)
    assert code == 1, result
    error = pod_error(result)
    assert error.startswith(f"the kubelet rejected {MANIFEST}: invalid pod: "), error
    assert 'spec.containers[0].env[0].name: Invalid value: "1ST_PORT"' in error, error
    assert (sha(lab, node, MANIFEST), sorted(lab.running_pod_uids(node, "web"))) == before


def test_a_command_not_in_the_image_fails_fast_on_a_json_node(
    lab: LabSession, tmp_path: Path, json_node: str
) -> None:
    node = json_node
    before = sha(lab, node, MANIFEST)
    path = inventory(tmp_path, "nope", templates={"static-web": NOT_IN_IMAGE})
    code, result, _, _ = deploy_json(path, node, 120)
    assert code == 1, result
    error = pod_error(result)
    # containerd's StartContainer refuses it: the kubelet's RunContainerError, with why.
    assert error.startswith(f"the kubelet cannot start default/static-web-{node}: "), error
    assert "with RunContainerError: " in error and "/no/such/command" in error, error
    assert sha(lab, node, MANIFEST) == before


def test_a_command_not_in_the_image_fails_fast_on_docker(lab: LabSession, tmp_path: Path) -> None:
    """Before, a new user saw only "not settled within 20s (pod Pending)"."""
    node = "my-node1"
    spctl_json("deploy", "--node", node, "--stable-for", "1")
    manifest = "/etc/kubelet.d/static-web.yaml"
    before = sha(lab, node, manifest)
    path = inventory(tmp_path, "nope", templates={"static-web": NOT_IN_IMAGE})
    try:
        code, result, _, _ = deploy_json(path, node, 20)
        assert code == 1, result
        error = pod_error(result)
        assert error.startswith(f"the kubelet cannot start default/static-web-{node}: "), error
        assert "with RunContainerError: " in error and "/no/such/command" in error, error
        assert "not settled" not in error, error
        assert sha(lab, node, manifest) == before
    finally:
        spctl_json("deploy", "--node", node, "--stable-for", "1")


@pytest.fixture
def real_relist(lab: LabSession) -> Iterator[str]:
    """my-node6's kubelet without the lab's 1 s knob: it re-lists every 20 s, kubeadm's
    fileCheckFrequency: 0s defaulted as the kubelet does; it models 1.31."""
    node = "my-node6"
    spctl_json("deploy", "--node", node, "--stable-for", "1")
    lab.out(
        node,
        f"mv {STANDIN_DROPIN} /root/standin.conf.saved && " + release_dropin("1.31"),
    )
    restart_kubelet(lab, node)
    yield node
    lab.out(node, f"mv /root/standin.conf.saved {STANDIN_DROPIN} && rm -f {RELEASE_DROPIN}")
    restart_kubelet(lab, node)
    spctl_json("deploy", "--node", node, "--stable-for", "1")


def test_with_the_real_re_list_inotify_carries_the_rejection(
    lab: LabSession, tmp_path: Path, real_relist: str
) -> None:
    node = real_relist
    started = lab.out(
        node, "journalctl -u kubelet -o cat --no-pager | grep 'stand-in starting' | tail -1"
    )
    assert "fileCheckFrequency=20" in started, started
    # A good change goes through inotify as well: nothing waits for the re-list.
    changed = WEB.replace("role: myrole", "role: relisted")
    code, result, _, _ = deploy_json(
        inventory(tmp_path, "good", templates={"static-web": changed}), node, 60
    )
    assert code == 0, result
    path = inventory(tmp_path, "env", templates={"static-web": REJECTED})
    since = lab.out(node, "date +%s").strip()
    code, result, stderr, _ = deploy_json(path, node, 15)
    assert code == 1, result
    error = pod_error(result)
    assert error.startswith(f"the kubelet rejected {MANIFEST}: invalid pod: "), error
    # It came from the watch event (file_linux.go), not from a re-list.
    journal = lab.out(node, f"journalctl -u kubelet -o cat --no-pager --since @{since}")
    assert '"Unable to process watch event" err="can\'t process config file' in journal, journal
    # The run said that a 15 s wait is shorter than the kubelet's re-list period.
    warnings = result["nodes"][0]["warnings"]
    assert any("re-lists every 20s" in w for w in warnings), (warnings, stderr)
