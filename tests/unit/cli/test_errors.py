"""Bad input: a clear error naming the problem, a non-zero exit, and no node touched.

The inventory's only node points at 127.0.0.1 port 1, where nothing listens: had spctl
tried to reach it, the error would be a connection error. Each case asserts the message it
expects instead, so each also shows that spctl stopped before touching any node.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.fakes import paths
from tests.fakes.cli import POD_TEMPLATE as GOOD_TEMPLATE
from tests.fakes.cli import SPCTL

CASES = {
    "template-syntax-error": ("web.yaml.j2", "metadata: {{ pod.name }\n", "line 1"),
    "undefined-variable": (
        "web.yaml.j2",
        GOOD_TEMPLATE.replace("{{ image }}", "{{ imagee }}"),
        "'imagee' is undefined",
    ),
    "not-a-pod": (
        "web.yaml.j2",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n",
        "kind: must be Pod",
    ),
    "service-account": (
        "web.yaml.j2",
        GOOD_TEMPLATE + "  serviceAccountName: builder\n",
        "spec.serviceAccountName",
    ),
    "secret-volume": (
        "web.yaml.j2",
        GOOD_TEMPLATE + "  volumes:\n    - name: s\n      secret: {secretName: x}\n",
        "spec.volumes[0].secret",
    ),
    "configmap-env": (
        "web.yaml.j2",
        GOOD_TEMPLATE + "      envFrom:\n        - configMapRef: {name: cfg}\n",
        "envFrom",
    ),
    "metadata-uid": (
        "web.yaml.j2",
        GOOD_TEMPLATE.replace("  name: {{ pod.name }}\n", "  name: {{ pod.name }}\n  uid: fixed\n"),
        "metadata.uid: a static pod's UID must be left to the kubelet",
    ),
    "alias-bomb": ("web.yaml.j2", "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n", "alias"),
    "over-10-mib": (
        "web.yaml.j2",
        GOOD_TEMPLATE + "  hostname: {{ 'x' * (11 * 1024 * 1024) }}\n",
        "10 MiB",
    ),
    # The kubelet's own validation (ValidatePodCreate): it would ignore these files on the node.
    "no-containers": (
        "web.yaml.j2",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ pod.name }}\nspec:\n  containers: []\n",
        "spec.containers: required: a pod needs at least one container",
    ),
    "port-protocol": (
        "web.yaml.j2",
        GOOD_TEMPLATE + "      ports: [{containerPort: 80, protocol: tcp}]\n",
        "'tcp' is not a port protocol",
    ),
    # The fleet view is shared by every node's rendering: templates read it, never change it.
    "fleet-changed": (
        "web.yaml.j2",
        GOOD_TEMPLATE.replace("{{ image }}", "{{ image }}{{ groups.update({'x': []}) }}"),
        "refused: groups.update() would change the fleet view, which is read-only",
    ),
    "missing-group": (
        "web.yaml.j2",
        GOOD_TEMPLATE.replace("{{ image }}", "{{ groups['control-plane'] | first }}"),
        "groups has no 'control-plane' (it has nothing)",
    ),
    "name-mismatch": (
        "web.yaml.j2",
        GOOD_TEMPLATE.replace("{{ pod.name }}", "other"),
        "metadata.name",
    ),
}


def write_inventory(tmp_path: Path, pods: str = "[web]", extra: str = "") -> Path:
    path = tmp_path / "inventory.yaml"
    path.write_text(
        "templates: tpl\n"
        "defaults:\n  vars: {image: spctl-lab/pod:1.0}\n"
        f"nodes:\n  n1:\n    address: 127.0.0.1\n    ssh: {{port: 1}}\n    pods: {pods}\n{extra}"
    )
    return path


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([SPCTL, *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_template_stops_before_any_node(tmp_path: Path, case: str) -> None:
    name, text, message = CASES[case]
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / name).write_text(text)
    inventory = write_inventory(tmp_path)
    started = time.monotonic()
    for verb in (["validate"], ["deploy", "--all"], ["deploy", "--all", "--dry-run"]):
        done = run("-i", str(inventory), *verb)
        assert done.returncode == 2, (verb, done.stdout, done.stderr)
        assert message in done.stderr, done.stderr
        assert "node n1, pod web, template" in done.stderr or case == "alias-bomb"
        assert "cannot connect" not in done.stderr
        assert "Traceback" not in done.stderr
    assert time.monotonic() - started < 30  # the alias bomb is refused, not expanded


def test_duplicate_pod_names_on_a_node(tmp_path: Path) -> None:
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "a.yaml.j2").write_text(GOOD_TEMPLATE.replace("{{ pod.name }}", "web"))
    inventory = write_inventory(
        tmp_path, pods="[{name: web, template: a.yaml.j2}, {name: web2, template: a.yaml.j2}]"
    )
    done = run("-i", str(inventory), "deploy", "--all")
    assert done.returncode == 2
    assert "metadata.name" in done.stderr and "web2" in done.stderr


@pytest.mark.parametrize(
    "pods, message",
    [
        ("['../evil']", "contains '/'"),
        ("['.hidden']", "starts with '.'"),
        ("['a/b']", "contains '/'"),
    ],
)
def test_unsafe_pod_names(tmp_path: Path, pods: str, message: str) -> None:
    done = run("-i", str(write_inventory(tmp_path, pods=pods)), "validate")
    assert done.returncode == 2 and message in done.stderr, done.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["deploy", "-n", "nope"], "unknown node or group 'nope'"),
        (["deploy", "--all", "nope"], "pod 'nope' is not assigned to any selected node"),
        (["deploy"], "select nodes with --node NAME, -l KEY=VALUE or --all"),
        (["deploy", "-l", "role"], "must be KEY=VALUE"),
        (["remove", "../x", "--all"], "contains '/'"),
        (["deploy", "--all", "--serial", "x"], "--serial must be a number"),
    ],
)
def test_bad_selection(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "web.yaml.j2").write_text(GOOD_TEMPLATE)
    done = run("-i", str(write_inventory(tmp_path)), *args)
    assert done.returncode == 2 and message in done.stderr, done.stderr


@pytest.mark.parametrize(
    "text, message",
    [
        ("nodes:\n  n1: {profile: gentoo}\n", "unknown profile 'gentoo'"),
        ("nodes:\n  n1: [\n", "inventory.yaml"),
        ("nodes: &a\n  n1: *a\n", "alias"),
        ("nodes:\n  n1: {address: 127.0.0.1, colour: red}\n", "unknown key 'colour'"),
        (
            "defaults:\n  vars: {groups: [a]}\nnodes:\n  n1: {}\n",
            "defaults.vars.groups: `groups` is a name every template already has",
        ),
    ],
)
def test_malformed_inventory(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(text)
    done = run("-i", str(path), "deploy", "--all")
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_missing_inventory_names_the_file(tmp_path: Path) -> None:
    done = run("-i", str(tmp_path / "nope.yaml"), "status")
    assert done.returncode == 2 and "nope.yaml not found" in done.stderr


def test_every_refused_validate_case_is_refused_by_spctl_validate(tmp_path: Path) -> None:
    # Each case of tests/cases/validate that expects problems becomes a template of one pod on
    # one node; one `spctl validate` must exit 2 and name every expected field for its pod.
    # Cases about the pod's identity (kind, apiVersion, metadata.name) are left out: the
    # inventory names the pod.
    from spctl.desired.yamlio import dump_manifest, parse_manifest

    cases = paths.CASES / "validate"
    (tmp_path / "tpl").mkdir()
    expected: dict[str, list[str]] = {}
    for path in sorted(cases.glob("*.yaml")):
        case = parse_manifest(path.read_text(encoding="utf-8"), source=str(path))
        fields = [e["field"] for e in case["expect"]]
        if not fields or any(f in ("kind", "apiVersion", "metadata.name") for f in fields):
            continue
        manifest = case["manifest"]
        manifest["metadata"]["name"] = path.stem
        (tmp_path / "tpl" / f"{path.stem}.yaml.j2").write_text(dump_manifest(manifest))
        expected[path.stem] = fields
    assert len(expected) >= 150
    done = run("-i", str(write_inventory(tmp_path, pods=f"[{', '.join(expected)}]")), "validate")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "cannot connect" not in done.stderr and "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    missing = [
        (pod, field)
        for pod, fields in expected.items()
        for field in fields
        if not any(f"pod {pod}, template" in line and f": {field}: " in line for line in lines)
    ]
    assert not missing, missing
