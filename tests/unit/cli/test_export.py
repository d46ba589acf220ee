"""spctl export daemonset on the command line: what it prints (YAML, JSON, a List), the nodes
it leaves out, the hand-over plan printed and not run, and its exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from spctl.verbs.export.daemonsets import ExportBug, daemonset_problems
from tests.fakes.cli import SPCTL

TEMPLATE = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
    - name: web
      image: {{ image }}
      ports: [{containerPort: {{ port }}}]
"""


def _inventory(tmp_path: Path, n2_vars: str = "{}") -> Path:
    (tmp_path / "tpl").mkdir(exist_ok=True)
    (tmp_path / "tpl" / "web.yaml.j2").write_text(TEMPLATE)
    path = tmp_path / "inventory.yaml"
    path.write_text(
        "templates: tpl\n"
        "defaults:\n  vars: {image: 'nginx:1.27', port: 80}\n  pods: [web]\n"
        "nodes:\n"
        "  n1: {address: 127.0.0.1, ssh: {port: 1}}\n"
        f"  n2: {{address: 127.0.0.1, ssh: {{port: 1}}, vars: {n2_vars}}}\n"
    )
    return path


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([SPCTL, *args], capture_output=True, text=True, timeout=60)


def test_cli_prints_a_valid_daemonset(tmp_path: Path) -> None:
    inventory = str(_inventory(tmp_path))
    done = run("-i", inventory, "export", "daemonset", "web")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("# DaemonSet web: web on n1, n2\n")
    (doc,) = list(yaml.safe_load_all(done.stdout))
    assert doc["kind"] == "DaemonSet" and daemonset_problems(doc) == []
    as_json = run("-i", inventory, "export", "daemonset", "web", "-n", "n1", "-o", "json")
    assert as_json.returncode == 0, as_json.stderr
    terms = json.loads(as_json.stdout)["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
    expressions = terms["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert expressions[0]["matchExpressions"][0]["values"] == ["n1"]


def test_cli_two_renderings_print_a_list_in_json(tmp_path: Path) -> None:
    # n2's own port would be refused; the same value as everyone's is not a difference at all,
    # so a different image from a group is needed for two DaemonSets: make n2 a group.
    path = _inventory(tmp_path)
    path.write_text(path.read_text() + "groups:\n  big: {members: [n2], vars: {port: 8080}}\n")
    done = run("-i", str(path), "export", "daemonset", "web", "-o", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["kind"] == "List"
    assert [d["metadata"]["name"] for d in data["items"]][1] == "web-big"


def test_cli_names_selected_nodes_left_out(tmp_path: Path) -> None:
    path = _inventory(tmp_path)
    text = path.read_text().replace("  pods: [web]\n", "")
    text = text.replace("n1: {", "n1: {pods: [web], ").replace("n2: {", "n2: {pods: [], ")
    path.write_text(text)
    done = run("-i", str(path), "export", "daemonset", "web", "-n", "n1", "-n", "n2")
    assert done.returncode == 0, done.stderr
    assert "n2 does not have web: left out" in done.stderr
    assert "- n1\n" in done.stdout and "- n2\n" not in done.stdout


def test_cli_plan_is_printed_not_run(tmp_path: Path) -> None:
    inventory = str(_inventory(tmp_path))
    done = run("-i", inventory, "export", "daemonset", "web", "--plan")
    assert done.returncode == 0, done.stderr
    assert "(apply-then-remove)" in done.stdout
    assert "kubectl apply -f web-daemonset.yaml\n" in done.stdout
    remove = f"spctl -i {inventory} remove web --node n1\n"  # the plan's spctl finds it too
    assert done.stdout.index(remove) > done.stdout.index("kubectl apply")
    assert "cannot connect" not in done.stderr  # nothing reached for the nodes


@pytest.mark.parametrize(
    "args, n2_vars, message",
    [
        ([], "{port: 8080}", "variable 'port' is set per node"),
        (["--priority-class", "system-node-critical"], "{}", "add --namespace kube-system"),
        (["--namespace", "Bad_NS"], "{}", "is not a namespace name"),
        (["-n", "nope"], "{}", "unknown node or group 'nope'"),
    ],
    ids=["per-node-variable", "priority-class", "namespace", "unknown-node"],
)
def test_cli_refusals_exit_2(tmp_path: Path, args: list[str], n2_vars: str, message: str) -> None:
    done = run("-i", str(_inventory(tmp_path, n2_vars)), "export", "daemonset", "web", *args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr


def test_cli_schema_failure_is_a_bug_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from spctl_cli.main import main

    import spctl.verbs.export.daemonsets

    monkeypatch.setattr(
        spctl.verbs.export.daemonsets, "daemonset_problems", lambda doc: ["spec.x: broken"]
    )
    monkeypatch.setattr(
        sys, "argv", ["spctl", "-i", str(_inventory(tmp_path)), "export", "daemonset", "web"]
    )
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == ExportBug.exit_code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "DaemonSet web: spec.x: broken" in captured.err and "a bug in spctl" in captured.err
