"""Import scenarios: each file in tests/cases/import/ is nodes' manifests + inventory -> the
template and the inventory spctl import writes, or its refusal.

A case file holds:
  pod:          the pod to import
  select:       {nodes: [...]} or {group: NAME}: as --node NAME ... on the command line
  var_prefix:   optional, as --var-prefix
  manifest:     the manifest as kubeadm (or a person) wrote it, the same on every node but for
  substitute:   node -> {placeholder: value}; or, instead of both,
  manifests:    node -> the file's text
  file_name:    optional, the file's name on the nodes (default POD.yaml)
  other_files:  optional, node -> {file name: text}: more files in the manifest directory
  inventory:    the inventory's text, comments included
  existing_template: optional, text of a template already in the templates directory
  expect:
    refused:    a substring of the refusal; nothing is written
    template:   the template's exact text
    variables:  name -> {node: value}
    byte_exact: nodes whose file the template renders byte for byte (default: every node)
    inventory:  the inventory's exact text afterwards

Every node is a kubeadm node (deb) whose kubelet reads /etc/kubernetes/manifests; its
agent answers facts requests as the agent does (tests/fakes/import_nodes.py). For every case
that imports, the runner then loads the written inventory, renders the written template for
each node through spctl.desired.render (the deploy path), checks the result is that node's
file (byte for byte where expected, and as the same pod always), and plans the next deploy
against the node's facts: each node adopts its file, and nothing restarts or changes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from spctl.desired.inventory import load_inventory
from spctl.desired.render import render_pod, render_text
from spctl.desired.yamlio import semantically_equal
from spctl.errors import SpctlError
from spctl.facts import NodeFacts
from spctl.plan.directory import plan_deploy
from spctl.verbs.import_pod.workflow import apply_import, plan_import, read_pod_manifest
from tests.fakes import paths
from tests.fakes.import_nodes import fake_agent, node_files

CASES = sorted((paths.CASES / "import").glob("*.yaml"))


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_import_case(path: Path, tmp_path: Path) -> None:
    case = yaml.safe_load(path.read_text())
    expect = case["expect"]
    pod = case["pod"]
    inventory_path = tmp_path / "inventory.yaml"
    inventory_path.write_text(case["inventory"])
    templates = tmp_path / "templates"
    templates.mkdir()
    template_path = templates / f"{pod}.yaml.j2"
    if "existing_template" in case:
        template_path.write_text(case["existing_template"])
    inventory = load_inventory(inventory_path)
    select = case["select"]
    group = select.get("group")
    chosen = inventory.select([group] if group else select["nodes"])
    files = node_files(case)
    agents = {n.name: fake_agent(n.name, files[n.name]) for n in chosen}
    found = [read_pod_manifest(n, pod, agents[n.name]) for n in chosen]

    def run():
        return plan_import(
            inventory,
            case["inventory"],
            pod,
            found,
            group=group,
            var_prefix=case.get("var_prefix"),
        )

    if "refused" in expect:
        with pytest.raises(SpctlError) as raised:
            run()
        assert expect["refused"] in str(raised.value)
        assert inventory_path.read_text() == case["inventory"]
        assert template_path.exists() == ("existing_template" in case)
        if "existing_template" in case:
            assert template_path.read_text() == case["existing_template"]
        return

    plan = run()
    assert plan.imported.template == expect["template"]
    assert {v.name: dict(v.values) for v in plan.imported.variables} == (
        expect.get("variables") or {}
    )
    assert plan.inventory_after == expect["inventory"]
    assert plan.warnings == ()
    apply_import(plan)
    assert template_path.read_text() == expect["template"]
    assert inventory_path.read_text() == expect["inventory"]

    # The next deploy, as `spctl deploy` would run it with the written files.
    updated = load_inventory(inventory_path)
    byte_exact = expect.get("byte_exact", [n.name for n in chosen])
    assert sorted(plan.imported.byte_exact) == sorted(byte_exact)
    for f in found:
        node = updated.nodes[f.node]
        ref = next(r for r in node.pods if r.name == pod)
        assert ref.template == template_path.resolve()
        on_node = files[f.node][case.get("file_name", f"{pod}.yaml")]
        rendered = render_text(node, ref, updated.fleet)
        if f.node in byte_exact:
            assert rendered == on_node
        desired = render_pod(node, ref, updated.fleet)
        assert semantically_equal(desired.content, on_node)
        facts = NodeFacts.from_agent(agents[f.node]({**agents[f.node].calls[0]}))
        deploy = plan_deploy(node, [desired], facts)
        assert [(s.name, s.action) for s in deploy.pods] == [(pod, "adopt")]
        assert deploy.kubelet is None
        assert not deploy.changed  # adopt rewrites the bytes; the pod (its UID) stays


@pytest.mark.parametrize("existing", [None, "# the template before --force\n"])
def test_an_inventory_that_cannot_be_written_leaves_the_template_as_it_was(
    tmp_path: Path, monkeypatch, existing
) -> None:
    from types import SimpleNamespace

    import spctl.verbs.import_pod.workflow as importing

    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("nodes: {}\n")
    template = tmp_path / "templates" / "imported" / "kube-apiserver.yaml.j2"
    if existing is not None:
        template.parent.mkdir(parents=True)
        template.write_text(existing)
    plan = SimpleNamespace(
        template_path=template,
        imported=SimpleNamespace(template="apiVersion: v1\n"),
        inventory_path=inventory,
        inventory_after="nodes: {cp1: {}}\n",
    )
    real_write = importing.write_atomic

    def write(path: Path, text: str) -> None:
        if path == inventory:
            raise OSError(28, "No space left on device")
        real_write(path, text)

    monkeypatch.setattr(importing, "write_atomic", write)
    with pytest.raises(OSError, match="No space left"):
        apply_import(plan)  # type: ignore[arg-type]
    assert inventory.read_text() == "nodes: {}\n"
    if existing is None:
        assert not (tmp_path / "templates").exists()
    else:
        assert template.read_text() == existing
        assert sorted(p.name for p in template.parent.iterdir()) == [template.name]


def test_import_again_takes_in_a_file_that_changed_on_node(tmp_path: Path) -> None:
    """After `kubeadm upgrade apply` rewrote a file spctl owns (another image tag), deploy
    refuses it; `spctl import POD --force` takes the node's version into the template, and
    the next deploy adopts it as it is."""
    case = yaml.safe_load((paths.CASES / "import" / "identical-nodes.yaml").read_text())
    pod = case["pod"]
    inventory_path = tmp_path / "inventory.yaml"
    inventory_path.write_text(case["inventory"])
    (tmp_path / "templates").mkdir()
    group = case["select"]["group"]
    files = node_files(case)

    def imported(nodes: dict[str, dict[str, str]], written: dict[str, dict[str, str]]):
        inventory = load_inventory(inventory_path)
        chosen = inventory.select([group])
        agents = {n.name: fake_agent(n.name, nodes[n.name], written.get(n.name)) for n in chosen}
        found = [read_pod_manifest(n, pod, agents[n.name]) for n in chosen]
        plan = plan_import(
            inventory, inventory_path.read_text(), pod, found, group=group, force=True
        )
        assert plan.warnings == ()
        apply_import(plan)
        return found

    imported(files, {})  # the first import; deploy then owns every node's file as it is
    upgraded = {
        n: {name: text.replace("v1.31.2", "v1.32.0") for name, text in f.items()}
        for n, f in files.items()
    }
    assert upgraded != files
    # spctl wrote the old files; kubeadm rewrote them: the old template is refused...
    inventory = load_inventory(inventory_path)
    for node in inventory.select([group]):
        facts = NodeFacts.from_agent(
            fake_agent(node.name, upgraded[node.name], files[node.name])(
                {"op": "facts", "pods": [pod], "manifest_dirs": ["/etc/kubernetes/manifests"]}
            )
        )
        ref = next(r for r in node.pods if r.name == pod)
        with pytest.raises(SpctlError, match="changed on node since spctl wrote it"):
            plan_deploy(node, [render_pod(node, ref, inventory.fleet)], facts)
    # ... and importing again with --force (the template exists) takes kubeadm's version in.
    found = imported(upgraded, files)
    template = (tmp_path / "templates" / f"{pod}.yaml.j2").read_text()
    assert "v1.32.0" in template and "v1.31.2" not in template
    updated = load_inventory(inventory_path)
    for f in found:
        node = updated.nodes[f.node]
        ref = next(r for r in node.pods if r.name == pod)
        deploy = plan_deploy(node, [render_pod(node, ref, updated.fleet)], f.facts)
        assert [(s.name, s.action) for s in deploy.pods] == [(pod, "adopt")]
        assert not deploy.changed
