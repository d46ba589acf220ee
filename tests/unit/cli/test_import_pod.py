"""`spctl import` from the command line, with each node's agent replaced by one that answers
as the agent does (no SSH): what is printed, what is written, and the exit codes."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from spctl_cli.main import main

from spctl.verbs import session
from tests.fakes import paths
from tests.fakes.import_nodes import fake_agent, node_files

IMPORT_CASES = paths.CASES / "import"


class FakeAgent:
    def __init__(self, call) -> None:
        self.call = call


def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case_name: str) -> tuple[Path, dict]:
    case = yaml.safe_load((IMPORT_CASES / f"{case_name}.yaml").read_text())
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(case["inventory"])
    (tmp_path / "templates").mkdir()
    files = node_files(case)
    contacted: list[str] = []

    @contextmanager
    def agent_for(node, settings, read_only=False):
        contacted.append(node.name)
        yield FakeAgent(fake_agent(node.name, files[node.name]))

    monkeypatch.setattr(session, "agent_for", agent_for)
    case["contacted"] = contacted
    return inventory, case


def run(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["spctl", *args])
    with pytest.raises(SystemExit) as done:
        main()
    return int(done.value.code or 0)


def test_print_shows_the_template_and_the_inventory_lines_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    inventory, case = setup(tmp_path, monkeypatch, "per-node-values")
    code = run(
        monkeypatch, "-i", str(inventory), "import", "kube-apiserver", "-n", "cp1", "-n", "cp2",
        "-n", "cp3", "--print",
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    template = tmp_path / "templates" / "kube-apiserver.yaml.j2"
    assert out.startswith(f"# {template}\n{case['expect']['template']}")
    assert "+      kube_apiserver_advertise_address: 10.0.0.12\n" in out
    assert "+    - kube-apiserver\n" in out
    assert "variable kube_apiserver_advertise_address: cp1=10.0.0.11" in err
    assert not template.exists()
    assert inventory.read_text() == case["inventory"]
    assert sorted(case["contacted"]) == ["cp1", "cp2", "cp3"]


def test_import_of_a_group_writes_the_template_and_the_inventory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    inventory, case = setup(tmp_path, monkeypatch, "identical-nodes")
    code = run(monkeypatch, "-i", str(inventory), "import", "kube-scheduler", "-n", "control-plane")
    _, err = capsys.readouterr()
    assert code == 0, err
    template = tmp_path / "templates" / "kube-scheduler.yaml.j2"
    assert template.read_text() == case["expect"]["template"]
    assert inventory.read_text() == case["expect"]["inventory"]
    assert not list(tmp_path.glob(".*.tmp")) and not list(template.parent.glob(".*.tmp"))


def test_a_refusal_exits_2_with_the_reason_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    inventory, case = setup(tmp_path, monkeypatch, "structural-difference-refused")
    code = run(monkeypatch, "-i", str(inventory), "import", "kube-apiserver", "-n", "control-plane")
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert "differs in structure between nodes" in err
    assert case["expect"]["refused"] in err
    assert inventory.read_text() == case["inventory"]
    assert list((tmp_path / "templates").iterdir()) == []


def test_an_existing_template_is_refused_before_any_node_is_contacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    inventory, case = setup(tmp_path, monkeypatch, "identical-nodes")
    template = tmp_path / "templates" / "kube-scheduler.yaml.j2"
    template.write_text("kept\n")
    code = run(monkeypatch, "-i", str(inventory), "import", "kube-scheduler", "-n", "control-plane")
    _, err = capsys.readouterr()
    assert code == 2
    assert "already exists" in err and "--force" in err
    assert case["contacted"] == []
    assert template.read_text() == "kept\n"
    assert inventory.read_text() == case["inventory"]


def test_template_dir_writes_elsewhere_and_the_inventory_points_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from spctl.desired.inventory import load_inventory

    inventory, _ = setup(tmp_path, monkeypatch, "identical-nodes")
    other = tmp_path / "imported"
    code = run(
        monkeypatch, "-i", str(inventory), "import", "kube-scheduler", "-n", "cp1",
        "--template-dir", str(other),
    )  # fmt: skip
    _, err = capsys.readouterr()
    assert code == 0, err
    assert (other / "kube-scheduler.yaml.j2").is_file()
    assert "template: ../imported/kube-scheduler.yaml.j2" in inventory.read_text()
    node = load_inventory(inventory).nodes["cp1"]
    assert [(r.name, r.template.resolve()) for r in node.pods] == [
        ("kube-scheduler", (other / "kube-scheduler.yaml.j2").resolve())
    ]


def test_an_unreachable_node_exits_1_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from spctl.errors import NodeError

    inventory, case = setup(tmp_path, monkeypatch, "identical-nodes")
    reachable = session.agent_for

    @contextmanager
    def agent_for(node, settings, read_only=False):
        if node.name == "cp2":
            raise NodeError("cannot connect to 10.0.0.12:22: connection refused")
        with reachable(node, settings, read_only) as agent:
            yield agent

    monkeypatch.setattr(session, "agent_for", agent_for)
    code = run(monkeypatch, "-i", str(inventory), "import", "kube-scheduler", "-n", "control-plane")
    _, err = capsys.readouterr()
    assert code == 1
    assert "cp2: cannot connect to 10.0.0.12:22" in err and "nothing was written" in err
    assert inventory.read_text() == case["inventory"]
    assert list((tmp_path / "templates").iterdir()) == []
