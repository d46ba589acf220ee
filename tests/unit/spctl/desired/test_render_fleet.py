"""Templates see the fleet: ``groups`` and ``nodes`` of the whole inventory, read-only.

Rendered through spctl.desired.render as every verb renders, from an inventory on disk.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from spctl.desired.fleet import Fleet, ReadOnlyDict, ReadOnlyList
from spctl.desired.inventory import Inventory, load_inventory
from spctl.desired.render import render_all, render_node
from spctl.errors import InventoryError, ValidationError

INVENTORY = """\
templates: tpl
defaults:
  vars: {image: "haproxy:3.0", api_port: 6443}
groups:
  control-plane:
    members: [cp3, cp1, cp2]
    labels: {role: control-plane}
  lb:
    members: [lb1]
    pods: [lb]
nodes:
  cp1: {address: 10.0.0.1, vars: {peers: [a, b]}}
  cp2: {address: 10.0.0.2, vars: {api_port: 7443}}
  cp3: {address: 10.0.0.3}
  lb1: {address: 10.0.0.9, labels: {zone: z1}}
"""

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: lb
  annotations:
    upstreams: "{{% for n in groups['control-plane'] %}}{{{{ n }}}}={{{{ nodes[n].address }}}}:{{{{ nodes[n].vars.api_port }}}}{{{{ ' ' if not loop.last }}}}{{% endfor %}}"
{extra}spec:
  containers:
    - name: lb
      image: {{{{ image }}}}
"""


def setup(tmp_path: Path, extra: str = "", inventory: str = INVENTORY) -> Inventory:
    (tmp_path / "tpl").mkdir(exist_ok=True)
    (tmp_path / "tpl" / "lb.yaml.j2").write_text(POD.format(extra=extra))
    (tmp_path / "inv.yaml").write_text(inventory)
    return load_inventory(tmp_path / "inv.yaml", ssh_config=tmp_path / "no-ssh-config")


def annotation(inv: Inventory, node: str = "lb1", key: str = "upstreams") -> str:
    (pod,) = render_node(inv.nodes[node], inv.fleet)
    for line in pod.content.splitlines():
        if line.strip().startswith(f"{key}:"):
            return line.split(":", 1)[1].strip().strip("'")
    raise AssertionError(pod.content)


def test_upstreams_come_from_the_group_in_sorted_order(tmp_path: Path) -> None:
    inv = setup(tmp_path)
    assert annotation(inv) == "cp1=10.0.0.1:6443 cp2=10.0.0.2:7443 cp3=10.0.0.3:6443"


def test_the_view_holds_every_node_and_group_whatever_the_selection(tmp_path: Path) -> None:
    inv = setup(tmp_path)
    assert inv.fleet.groups == {"control-plane": ["cp1", "cp2", "cp3"], "lb": ["lb1"]}
    assert list(inv.fleet.nodes) == ["cp1", "cp2", "cp3", "lb1"]  # inventory order
    assert inv.fleet.nodes["cp2"] == {
        "name": "cp2",
        "address": "10.0.0.2",
        "labels": {"role": "control-plane"},
        "groups": ["control-plane"],
        "vars": {"image": "haproxy:3.0", "api_port": 7443},
    }
    # Rendering only lb1 (as `deploy --node lb1` does) still sees the whole inventory.
    rendered = render_all(inv.select(["lb1"]), inv.fleet)
    assert "cp3=10.0.0.3" in rendered["lb1"][0].content


def test_the_view_is_built_once_per_load_and_shared(tmp_path: Path) -> None:
    inv = setup(tmp_path)
    assert inv.fleet is inv.fleet
    again = load_inventory(tmp_path / "inv.yaml", ssh_config=tmp_path / "no-ssh-config")
    assert again.fleet == inv.fleet and again.fleet is not inv.fleet


def test_removing_a_member_changes_the_rendering(tmp_path: Path) -> None:
    before = annotation(setup(tmp_path))
    after = annotation(
        setup(tmp_path, inventory=INVENTORY.replace("[cp3, cp1, cp2]", "[cp1, cp2]"))
    )
    assert "cp3" in before and "cp3" not in after
    assert after == "cp1=10.0.0.1:6443 cp2=10.0.0.2:7443"


def test_nodes_entries_have_labels_groups_and_vars(tmp_path: Path) -> None:
    extra = (
        "    zone: \"{{ nodes['lb1'].labels.zone }}\"\n"
        "    cp1groups: \"{{ nodes.cp1.groups | join(',') }}\"\n"
        "    peers: \"{{ nodes.cp1.vars.peers | join(',') }}\"\n"
        '    mine: "{{ nodes[node.name].address }}"\n'
        "    json: '{{ groups | tojson }}'\n"
        "    plus: \"{{ (groups.lb + ['x']) | join(',') }}\"\n"
        "    has: \"{{ 'etcd' in groups }}/{{ groups.get('etcd', []) | length }}\"\n"
    )
    inv = setup(tmp_path, extra)
    assert annotation(inv, key="zone") == "z1"
    assert annotation(inv, key="cp1groups") == "control-plane"
    assert annotation(inv, key="peers") == "a,b"
    assert annotation(inv, key="mine") == "10.0.0.9"
    assert json.loads(annotation(inv, key="json")) == {
        "control-plane": ["cp1", "cp2", "cp3"],
        "lb": ["lb1"],
    }
    assert annotation(inv, key="plus") == "lb1,x"  # a new list; the group is unchanged
    assert annotation(inv, key="has") == "False/0"


MUTATIONS = {
    "list-append": "{% set _ = groups['control-plane'].append('evil') %}",
    "list-pop": "{{ groups.lb.pop() }}",
    "list-sort": "{{ groups['control-plane'].sort(reverse=true) }}",
    "dict-update": "{{ groups.update({'lb': []}) }}",
    "dict-setdefault": "{{ nodes.setdefault('evil', {}) }}",
    "node-vars-update": "{{ nodes.cp1.vars.update({'api_port': 1}) }}",
    "nested-list-append": "{{ nodes.cp1.vars.peers.append('c') }}",
    "labels-clear": "{{ nodes['lb1'].labels.clear() }}",
    "groups-of-node-remove": "{{ nodes.cp1.groups.remove('control-plane') }}",
}


@pytest.mark.parametrize("case", sorted(MUTATIONS))
def test_templates_cannot_change_the_fleet(tmp_path: Path, case: str) -> None:
    inv = setup(tmp_path, f'    x: "{MUTATIONS[case]}"\n')
    before = copy.deepcopy((dict(inv.fleet.groups), dict(inv.fleet.nodes)))
    with pytest.raises(ValidationError) as refused:
        render_node(inv.nodes["lb1"], inv.fleet)
    (problem,) = refused.value.problems
    assert problem.startswith("node lb1, pod lb, template ")
    assert "would change the fleet view, which is read-only" in problem, problem
    assert "build a new value instead" in problem
    assert (dict(inv.fleet.groups), dict(inv.fleet.nodes)) == before


def test_the_do_statement_is_no_way_around_it(tmp_path: Path) -> None:
    """`{% do %}` is not enabled (jinja2.ext.do): a syntax error, named with its line."""
    inv = setup(tmp_path, '    x: "{% do groups.clear() %}"\n')
    with pytest.raises(ValidationError, match="line 7: Encountered unknown tag 'do'"):
        render_node(inv.nodes["lb1"], inv.fleet)
    assert inv.fleet.groups["lb"] == ["lb1"]


def test_the_view_refuses_changes_from_python_too() -> None:
    fleet = Fleet.of([], {"g": ["b", "a"]})
    with pytest.raises(TypeError, match=r"groups\['g'\] is read-only"):
        fleet.groups["g"].append("c")
    with pytest.raises(TypeError, match="groups is read-only"):
        fleet.groups["h"] = ReadOnlyList([], "x")
    with pytest.raises(TypeError, match="read-only"):
        fleet.groups.update({})
    assert isinstance(fleet.groups, ReadOnlyDict) and fleet.groups == {"g": ["a", "b"]}
    copied = copy.deepcopy(fleet.groups)  # a copy is a plain, changeable dict
    copied["g"].append("c")
    assert fleet.groups["g"] == ["a", "b"]


def test_a_template_changing_its_own_list_does_not_change_the_next_pod(tmp_path: Path) -> None:
    """The node's own vars are copied for each rendering (the fleet view keeps its own copy)."""
    (tmp_path / "tpl").mkdir()
    for name in ("a", "b"):
        (tmp_path / "tpl" / f"{name}.yaml.j2").write_text(
            f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  annotations:\n"
            "    peers: \"{% set _ = peers.append('x') %}{{ peers | join(',') }}\"\n"
            "spec:\n  containers: [{name: c, image: nginx}]\n"
        )
    (tmp_path / "inv.yaml").write_text(
        "templates: tpl\nnodes:\n  n1: {vars: {peers: [p]}, pods: [a, b]}\n"
    )
    inv = load_inventory(tmp_path / "inv.yaml", ssh_config=tmp_path / "none")
    pods = render_node(inv.nodes["n1"], inv.fleet)
    assert ["peers: p,x" in p.content for p in pods] == [True, True]
    assert list(inv.nodes["n1"].vars["peers"]) == ["p"]
    assert inv.fleet.nodes["n1"]["vars"]["peers"] == ["p"]


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        (
            "{{ groups['etcd'] }}",
            "groups has no 'etcd' (it has control-plane, lb); test for it with `'etcd' in groups`",
        ),
        (
            "{% for n in groups.etcd %}{% endfor %}",
            "groups has no 'etcd' (it has control-plane, lb)",
        ),
        ("{{ nodes['cp9'].address }}", "nodes has no 'cp9' (it has cp1, cp2, cp3, lb1)"),
        ("{{ nodes.cp1.vars.missing }}", "nodes['cp1'].vars has no 'missing' (it has"),
        ("{{ groups.lb[3] }}", "groups['lb'] has no element 3 (it has 1)"),
    ],
)
def test_a_missing_group_or_node_is_named_as_such(
    tmp_path: Path, snippet: str, message: str
) -> None:
    inv = setup(tmp_path, f'    x: "{snippet}"\n')
    with pytest.raises(ValidationError) as refused:
        render_node(inv.nodes["lb1"], inv.fleet)
    (problem,) = refused.value.problems
    assert message in problem, problem
    assert "define it under `vars:`" not in problem  # it is not a variable to define


@pytest.mark.parametrize("name", ["groups", "nodes", "node", "pod"])
@pytest.mark.parametrize("level", ["defaults", "groups.lb", "nodes.lb1"])
def test_a_variable_named_like_the_context_is_refused(
    tmp_path: Path, name: str, level: str
) -> None:
    text = {
        "defaults": INVENTORY.replace("api_port: 6443}", f"api_port: 6443, {name}: x}}"),
        "groups.lb": INVENTORY.replace("pods: [lb]", f"pods: [lb]\n    vars: {{{name}: x}}"),
        "nodes.lb1": INVENTORY.replace("zone: z1}", f"zone: z1}}, vars: {{{name}: x}}"),
    }[level]
    with pytest.raises(InventoryError) as refused:
        setup(tmp_path, inventory=text)
    message = str(refused.value)
    assert f"inv.yaml: {level}.vars.{name}: `{name}` is a name every template already has" in (
        message
    )
    assert "rename the variable" in message
