"""Inventory loading: precedence, selection and the errors an operator sees."""

from __future__ import annotations

from pathlib import Path

import pytest

from spctl.desired.inventory import load_inventory
from spctl.errors import InventoryError

INVENTORY = """\
templates: tpl
defaults:
  ssh: {user: ops, port: 2222, key: keys/id}
  vars: {image: nginx, port: 80, tier: default}
  labels: {site: a}
  pods: [static-web]
groups:
  first:
    members: [n1, n2]
    vars: {tier: first, only_first: yes}
    profile: kubeadm-deb
  second:
    members: [n1]
    vars: {tier: second}
    pods:
      - {name: static-web, template: other.yaml.j2}
      - haproxy
nodes:
  n1:
    address: 10.0.0.1
    ssh: {port: 22}
    vars: {port: 8080}
    labels: {role: lb}
    manifest_dir: /etc/kubelet.d/
  n2: {}
"""


@pytest.fixture
def inv(tmp_path: Path):
    path = tmp_path / "inv.yaml"
    path.write_text(INVENTORY)
    return load_inventory(path, ssh_config=tmp_path / "no-ssh-config")


def test_precedence_defaults_groups_in_order_then_node(inv, tmp_path):
    n1 = inv.nodes["n1"]
    assert dict(n1.vars) == {"image": "nginx", "port": 8080, "tier": "second", "only_first": True}
    assert dict(n1.labels) == {"site": "a", "role": "lb"}
    assert n1.ssh.user == "ops" and n1.ssh.port == 22
    assert n1.ssh.key == str(tmp_path / "keys" / "id")  # relative to the inventory file
    assert n1.profile == "kubeadm-deb"
    assert n1.manifest_dir == "/etc/kubelet.d"
    assert n1.groups == ("first", "second")
    assert {p.name: p.template.name for p in n1.pods} == {
        "static-web": "other.yaml.j2",
        "haproxy": "haproxy.yaml.j2",
    }
    assert inv.nodes["n2"].address == "n2"


def test_selection(inv):
    assert [n.name for n in inv.select(["first"])] == ["n1", "n2"]
    assert [n.name for n in inv.select([], ["role=lb"])] == ["n1"]
    assert [n.name for n in inv.select([], [], all_nodes=True)] == ["n1", "n2"]
    with pytest.raises(InventoryError, match="unknown node or group 'n9'"):
        inv.select(["n9"])
    with pytest.raises(InventoryError, match="--node NAME, -l KEY=VALUE or --all"):
        inv.select([], [])


def test_ssh_config_fills_what_the_inventory_leaves_open(tmp_path):
    (tmp_path / "ssh_config").write_text(
        "Host web1\n  HostName 127.0.0.9\n  Port 2200\n  User deploy\n  IdentityFile ~/.ssh/web\n"
        "  ProxyJump ops@bastion:2222\n"
        "Host bastion\n  HostName 127.0.0.5\n  Port 2022\n"
    )
    (tmp_path / "inv.yaml").write_text(
        "nodes:\n  web1: {}\n  web2: {address: web1, ssh: {user: root}}\n"
    )
    inv = load_inventory(tmp_path / "inv.yaml", ssh_config=tmp_path / "ssh_config")
    t = inv.nodes["web1"].target()
    assert (t.host, t.port, t.user) == ("127.0.0.9", 2200, "deploy")
    assert t.key_file == str(Path("~/.ssh/web").expanduser())
    # The jump host's alias is resolved through ssh config too; its explicit port wins.
    assert t.jump is not None and (t.jump.host, t.jump.port, t.jump.user) == (
        "127.0.0.5",
        2222,
        "ops",
    )
    assert inv.nodes["web2"].target().user == "root"  # the inventory wins over ~/.ssh/config


@pytest.mark.parametrize(
    "text, message",
    [
        ("nodes: [a, b]\n", "nodes: expected a mapping"),
        ("nodes:\n  a: {adress: x}\n", "nodes.a: unknown key 'adress'"),
        ("nodes:\n  a: {profile: gentoo}\n", "unknown profile 'gentoo'"),
        ("nodes:\n  a: {}\ngroups:\n  g: {members: [b]}\n", "groups.g.members: unknown node 'b'"),
        ("nodes:\n  a: {pods: ['../evil']}\n", "pod name '../evil'"),
        ("nodes:\n  a: {pods: ['.hidden']}\n", "pod name '.hidden'"),
        ("nodes:\n  a: {manifest_dir: relative/dir}\n", "must be an absolute path"),
        ("nodes:\n  a: {ssh: {port: 99999}}\n", "ssh.port: expected a port number"),
        ("nodes: {}\n", "no nodes defined"),
        ("a: &x [1]\nb: *x\n", "alias"),
        ("nodes:\n  a: {}\n  a: {}\n", "duplicate"),
        ("nodes:\n  a: {\n", "inv.yaml"),
    ],
)
def test_bad_inventory_is_named(tmp_path, text, message):
    path = tmp_path / "inv.yaml"
    path.write_text(text)
    with pytest.raises(InventoryError) as raised:
        load_inventory(path, ssh_config=tmp_path / "none")
    assert message in str(raised.value)
