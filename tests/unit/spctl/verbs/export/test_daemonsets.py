"""spctl export daemonset: the scenarios in tests/cases/export/ and the schema check (the
command line is in tests/unit/cli/test_export.py).

A case file holds:
  inventory:  an inventory (its `templates:` is set by the runner)
  templates:  template files (name -> text)
  export:     pod, and optionally nodes, selectors, all, priority_class, namespace
  expect:     either `refused` (one entry per problem, each a list of substrings; nothing else
              may be reported), or `daemonsets` (the exact DaemonSets, in order), optionally
              `notes` (substrings, each in some note) and `plan` (order, substrings of its
              reason in `why`, and the exact commands of each step).
Every DaemonSet a case produces must also pass the DaemonSet schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from spctl.desired.inventory import Inventory, load_inventory
from spctl.desired.yamlio import parse_manifest
from spctl.verbs.export.daemonsets import (
    ExportRefused,
    daemonset_problems,
    export_daemonsets,
)
from spctl.verbs.export.handover import plan_handover
from tests.fakes import paths

CASES = sorted((paths.CASES / "export").glob("*.yaml"))


def _setup(case: dict[str, Any], tmp_path: Path) -> Inventory:
    (tmp_path / "tpl").mkdir()
    for name, text in (case.get("templates") or {}).items():
        (tmp_path / "tpl" / name).write_text(text)
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump({"templates": "tpl", **case["inventory"]}, sort_keys=False))
    return load_inventory(path, ssh_config=tmp_path / "no-ssh-config")


def _export(case: dict[str, Any], inventory: Inventory):
    args = case["export"]
    names, selectors = args.get("nodes", []), args.get("selectors", [])
    chosen = inventory.select(
        names, selectors, args.get("all", False) or not (names or selectors), require=False
    )
    return export_daemonsets(
        inventory, chosen, args["pod"], args.get("priority_class"), args.get("namespace")
    )


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_export_case(path: Path, tmp_path: Path) -> None:
    case = parse_manifest(path.read_text(encoding="utf-8"), source=str(path))
    assert set(case) <= {"inventory", "templates", "export", "expect"}, path.name
    expect = case["expect"]
    inventory = _setup(case, tmp_path)
    if "refused" in expect:
        with pytest.raises(ExportRefused) as refused:
            _export(case, inventory)
        problems = refused.value.problems
        assert len(problems) == len(expect["refused"]), problems
        for wanted, problem in zip(expect["refused"], problems):
            for part in wanted:
                assert part in problem, (part, problem)
        return
    result = _export(case, inventory)
    manifests = [ds.manifest for ds in result.daemonsets]
    assert manifests == expect["daemonsets"], yaml.safe_dump(manifests, sort_keys=False)
    for manifest in manifests:
        assert daemonset_problems(manifest) == []
    for note in expect.get("notes", []):
        assert any(note in n for n in result.notes), result.notes
    if not expect.get("notes"):
        assert result.notes == ()
    if "plan" in expect:
        plan = plan_handover(result)
        assert plan.order == expect["plan"]["order"]
        for part in expect["plan"].get("why", []):
            assert part in plan.why
        assert [list(step.commands) for step in plan.steps] == expect["plan"]["steps"]


def _valid_daemonset() -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": "web"}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": dict(labels)},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
        },
    }


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["spec"]["template"]["spec"].update(nodeNme="n1"), "nodeNme"),
        (lambda d: d["spec"].update(replicas=3), "replicas"),
        (lambda d: d["spec"]["selector"]["matchLabels"].update(x="y"), "selector does not match"),
        (lambda d: d["spec"]["template"]["spec"].update(restartPolicy="Never"), "must be Always"),
        (lambda d: d["spec"].pop("selector"), "selector"),
    ],
    ids=["unknown-template-field", "unknown-spec-field", "selector", "restart", "no-selector"],
)
def test_schema_check_finds_broken_daemonsets(change: Any, message: str) -> None:
    assert daemonset_problems(_valid_daemonset()) == []
    broken = _valid_daemonset()
    change(broken)
    problems = daemonset_problems(broken)
    assert any(message in p for p in problems), problems


def test_nodes_in_the_same_groups_rendering_differently_are_refused(tmp_path: Path) -> None:
    # The safety net under the template analysis: were it to miss an input, two nodes of the
    # same groups that render differently are still refused (here the split is given directly).
    from spctl.verbs.export.pernode import per_node_differences

    path = paths.CASES / "export" / "same-rendering-everywhere.yaml"
    case = parse_manifest(path.read_text(encoding="utf-8"), source=str(path))
    inventory = _setup(case, tmp_path)
    web1, edge2 = inventory.nodes["web1"], inventory.nodes["Edge-2"]
    assert per_node_differences(inventory, [web1, edge2], "static-web", [[web1, edge2]]) == []
    (problem,) = per_node_differences(inventory, [web1, edge2], "static-web", [[web1], [edge2]])
    assert "web1 and Edge-2 belong to the same groups but render static-web differently" in problem


def test_long_pod_names_give_valid_label_values(tmp_path: Path) -> None:
    # Pod names may have 253 characters; label values and label names only 63.
    pod = "a" * 70 + ".example"
    case = {
        "inventory": {"defaults": {"pods": [pod]}, "nodes": {"n1": {}}},
        "templates": {
            f"{pod}.yaml.j2": f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {pod}, "
            "labels: {app: x}}\nspec:\n  hostNetwork: true\n"
            "  containers: [{name: c, image: 'busybox:1.36'}]\n"
        },
    }
    inventory = _setup(case, tmp_path)
    result = export_daemonsets(inventory, inventory.nodes.values(), pod)
    (ds,) = result.daemonsets
    assert ds.name == pod
    assert all(len(v) <= 63 for v in ds.selector.values()), ds.selector
    assert ds.selector["app.kubernetes.io/name"].startswith("a" * 54 + "-")
    gate = result.handover_label
    assert gate is not None and len(gate.split("/", 1)[1]) <= 63
    assert daemonset_problems(ds.manifest) == []
