"""Pods that hand the node to the pod (a privileged container, hostPID, a hostPath of /) are
warned about at validate and deploy; --strict refuses them before any node is touched."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from spctl.desired.validation.static_pod import dangerous_settings
from spctl.desired.yamlio import parse_manifest
from tests.fakes.cli import POD_TEMPLATE as BASE
from tests.fakes.cli import SPCTL
from tests.fakes.ssh_server import FakeNode, client_key

CASES = {
    "privileged": (
        BASE + "      securityContext: {privileged: true}\n",
        "spec.containers[0].securityContext.privileged: a privileged container",
    ),
    "host-pid": (BASE + "  hostPID: true\n", "spec.hostPID: the pod sees and can signal"),
    "host-root": (
        BASE
        + "      volumeMounts: [{name: root, mountPath: /host}]\n"
        + "  volumes:\n    - name: root\n      hostPath: {path: /}\n",
        "spec.volumes[0].hostPath.path: '/' mounts the node's whole file system",
    ),
}


def setup(tmp_path: Path, template: str, port: int = 1, known_hosts: str = "") -> Path:
    (tmp_path / "tpl").mkdir(exist_ok=True)
    (tmp_path / "tpl" / "web.yaml.j2").write_text(template)
    ssh = f"{{port: {port}, key: {client_key(tmp_path)}"
    ssh += f", known_hosts: {known_hosts}}}" if known_hosts else "}"
    path = tmp_path / "inventory.yaml"
    path.write_text(
        "templates: tpl\n"
        "nodes:\n"
        "  n1:\n"
        "    address: 127.0.0.1\n"
        "    pods: [web]\n"
        "    vars: {image: spctl-lab/pod:1.0}\n"
        f"    ssh: {ssh}\n"
    )
    return path


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([SPCTL, *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("case", sorted(CASES))
def test_validate_warns_and_strict_refuses(tmp_path: Path, case: str) -> None:
    template, message = CASES[case]
    inventory = setup(tmp_path, template)
    done = run("-i", str(inventory), "validate")
    assert done.returncode == 0, done.stderr
    assert "warning:" in done.stderr and message in done.stderr
    assert "bypass admission control" in done.stderr
    assert "node n1, pod web, template" in done.stderr
    strict = run("-i", str(inventory), "validate", "--strict")
    assert strict.returncode == 2
    assert message in strict.stderr and "--strict: refusing" in strict.stderr


def test_a_harmless_pod_gets_no_warning(tmp_path: Path) -> None:
    inventory = setup(
        tmp_path, BASE + "  volumes:\n    - name: l\n      hostPath: {path: /var/log}\n"
    )
    for args in (["validate"], ["validate", "--strict"]):
        done = run("-i", str(inventory), *args)
        assert done.returncode == 0 and "warning" not in done.stderr, done.stderr


@pytest.mark.parametrize("case", sorted(CASES))
def test_deploy_warns_then_deploys_and_strict_touches_nothing(tmp_path: Path, case: str) -> None:
    template, message = CASES[case]
    with FakeNode() as node:
        known = tmp_path / "known_hosts"
        known.write_text(node.known_hosts_line())
        inventory = setup(tmp_path, template, port=node.port, known_hosts=str(known))
        strict = run("-i", str(inventory), "deploy", "--all", "--strict")
        assert strict.returncode == 2
        assert message in strict.stderr and "nothing was touched" in strict.stderr
        assert node.connections == 0  # refused before connecting
        warned = run("-i", str(inventory), "deploy", "--all", "--dry-run")
        # the node is a stand-in without an agent: the run reaches it and fails there
        assert warned.returncode == 1, warned.stderr
        assert "warning:" in warned.stderr and message in warned.stderr
        assert node.connections >= 1 and node.commands


@pytest.mark.parametrize(
    ("spec", "count"),
    [
        (
            "{hostPID: false, containers: [{name: a, image: b, securityContext: {privileged: false}}]}",
            0,
        ),
        ("{containers: [{name: a, image: b}], volumes: [{name: v, hostPath: {path: //}}]}", 1),
        ("{containers: [{name: a, image: b}], volumes: [{name: v, hostPath: {path: /./}}]}", 1),
        ("{containers: [{name: a, image: b}], volumes: [{name: v, hostPath: {path: /etc/..}}]}", 1),
        (
            "{initContainers: [{name: i, image: b, securityContext: {privileged: true}}], containers: []}",
            1,
        ),
    ],
)
def test_dangerous_settings_see_through_spellings(spec: str, count: int) -> None:
    doc = parse_manifest(
        f"apiVersion: v1\nkind: Pod\nmetadata: {{name: x}}\nspec: {spec}\n", source="t"
    )
    assert len(dangerous_settings(doc)) == count
