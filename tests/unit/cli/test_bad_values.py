"""Inventory, template and option values that used to end in a traceback (exit 1): each is
now exit 2 with a message naming the file, node and field, and no node is contacted (the
only node points at 127.0.0.1 port 1, where a connection attempt would be refused)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.fakes.cli import POD_TEMPLATE as TEMPLATE
from tests.fakes.cli import SPCTL


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([SPCTL, *args], capture_output=True, text=True, timeout=60, cwd=tmp_path)


def setup(tmp_path: Path, node: str = "", extra: str = "", template: str = TEMPLATE) -> Path:
    """One node, n1; ``node`` adds or replaces its ``address:`` and ``ssh:`` lines."""
    (tmp_path / "tpl").mkdir(exist_ok=True)
    (tmp_path / "tpl" / "web.yaml.j2").write_text(template)
    lines = "    pods: [web]\n    vars: {image: spctl-lab/pod:1.0}\n" + node
    if "address:" not in node:
        lines += "    address: 127.0.0.1\n"
    if "ssh:" not in node:
        lines += "    ssh: {port: 1}\n"
    path = tmp_path / "inventory.yaml"
    path.write_text(f"templates: tpl\n{extra}nodes:\n  n1:\n{lines}")
    return path


INVENTORY_CASES = {
    "user-list": (
        "    ssh: {port: 1, user: [a]}\n",
        "nodes.n1.ssh.user: expected a string, got a list",
    ),
    "key-int": ("    ssh: {port: 1, key: 5}\n", "nodes.n1.ssh.key: expected a string, got 5 (int)"),
    "sudo-string": (
        "    ssh: {port: 1, sudo: 'yes'}\n",
        "nodes.n1.ssh.sudo: expected true or false",
    ),
    "port-bool": ("    ssh: {port: true}\n", "nodes.n1.ssh.port: expected a port number"),
    "timeout-string": ("    ssh: {connect_timeout: abc}\n", "nodes.n1.ssh.connect_timeout"),
    "jump-port": ("    ssh: {jump: 'ops@bastion:xx'}\n", "nodes.n1.ssh.jump: 'xx' is not a port"),
    "jump-int": ("    ssh: {jump: 5}\n", "nodes.n1.ssh.jump: expected a string"),
    "address-list": ("    address: [1]\n", "nodes.n1.address: expected a host name"),
    "labels-list": ("    labels: {a: [1]}\n", "nodes.n1.labels.a: expected a string, got a list"),
}


@pytest.mark.parametrize("case", sorted(INVENTORY_CASES))
def test_wrong_types_in_the_inventory(tmp_path: Path, case: str) -> None:
    node, message = INVENTORY_CASES[case]
    inventory = setup(tmp_path, node=node)
    for verb in (["validate"], ["inventory"], ["status"], ["deploy", "--all"]):
        done = run(tmp_path, "-i", str(inventory), *verb)
        assert done.returncode == 2, (verb, done.stderr)
        assert message in done.stderr, done.stderr
        assert str(inventory) in done.stderr
        assert "Traceback" not in done.stderr and "cannot connect" not in done.stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("groups:\n  g: {members: [n1, [x]]}\n", "groups.g.members: expected node names"),
        ("defaults: {pods: [{name: api, template: 5}]}\n", "defaults.pods[0].template"),
    ],
)
def test_wrong_types_elsewhere(tmp_path: Path, extra: str, message: str) -> None:
    done = run(tmp_path, "-i", str(setup(tmp_path, extra=extra)), "validate")
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_templates_must_be_a_path(tmp_path: Path) -> None:
    inventory = setup(tmp_path)
    inventory.write_text(inventory.read_text().replace("templates: tpl", "templates: [tpl]"))
    done = run(tmp_path, "-i", str(inventory), "validate")
    assert done.returncode == 2
    assert "templates: expected a directory path, got a list" in done.stderr


def test_a_non_utf8_inventory_names_the_line(tmp_path: Path) -> None:
    inventory = setup(tmp_path)
    inventory.write_bytes(inventory.read_bytes().replace(b"pod:1.0", b"pod:\xff"))
    done = run(tmp_path, "-i", str(inventory), "validate")
    assert done.returncode == 2
    assert f"{inventory}: line 5: byte 0xff is not UTF-8" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "the inventory is an empty document"), ("- a\n", "the inventory is a list")],
)
def test_an_inventory_that_is_not_a_mapping(tmp_path: Path, text: str, message: str) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(text)
    done = run(tmp_path, "-i", str(inventory), "validate")
    assert done.returncode == 2 and message in done.stderr and "kind: Pod" not in done.stderr


TEMPLATE_CASES = {
    "repetition": ("{{ 'x' * 10**12 }}", "`*` repetition would build 1000000000000 characters"),
    "nested-ranges": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "range() would yield more than 100000 numbers",
    ),
    "power": ("{{ 2 ** 100000000 }}", "too large a number"),
    "center-filter": ("{{ 'x'|center(10**11) }}", "the center filter's argument would build"),
    "str-method": ("{{ 'x'.ljust(10**11) }}", "ljust() with 100000000000"),
    "printf-width": ("{{ '%999999999d' % 1 }}", "a format width would build"),
    "format-width": ("{{ '{:>999999999}'.format(1) }}", "would build 999999999 characters"),
    "replace-growth": (
        "{% set s = 'x' * 1000000 %}{{ s|replace('x', s) }}",
        "replace would build",
    ),
    "concat-doubling": (
        "{% set ns = namespace(s='x') %}{% for i in range(60) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        "`~` would build",
    ),
    "list-doubling": (
        "{% set ns = namespace(s=[1]) %}{% for i in range(60) %}"
        "{% set ns.s = ns.s + ns.s %}{% endfor %}",
        "`+` would build",
    ),
    "output": (
        "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}",
        "the rendered output would build",
    ),
    "recursion": ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(1) }}", "too much recursion"),
    "type-error": ("{{ 'a' + 1 }}", "TypeError: can only concatenate str"),
    "division": ("{{ 1 / 0 }}", "ZeroDivisionError: division by zero"),
}


@pytest.mark.parametrize("case", sorted(TEMPLATE_CASES))
def test_templates_that_would_exhaust_the_control_host(tmp_path: Path, case: str) -> None:
    snippet, message = TEMPLATE_CASES[case]
    inventory = setup(tmp_path, template=TEMPLATE + f"# {snippet}\n")
    started = time.monotonic()
    for verb in (["validate"], ["deploy", "--all"]):
        done = run(tmp_path, "-i", str(inventory), *verb)
        assert done.returncode == 2, (verb, done.stderr[-2000:])
        assert "node n1, pod web, template" in done.stderr
        assert message in done.stderr, done.stderr[-2000:]
        assert "Traceback" not in done.stderr and "cannot connect" not in done.stderr
    assert time.monotonic() - started < 30


def test_a_non_utf8_template_names_the_line(tmp_path: Path) -> None:
    inventory = setup(tmp_path)
    (tmp_path / "tpl" / "web.yaml.j2").write_bytes(TEMPLATE.encode() + b"# \xfe\n")
    done = run(tmp_path, "-i", str(inventory), "validate")
    assert done.returncode == 2
    assert "line 9: byte 0xfe is not UTF-8" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--connect-timeout", "-1"], "expected more than 0 and at most 3600 seconds"),
        (["--connect-timeout", "inf"], "expected more than 0"),
        (["--timeout", "nan"], "expected more than 0"),
        (["--wait-lock", "x"], "'x' is not a number of seconds"),
        (["--stable-for", "-1"], "expected at least 0"),
    ],
)
def test_bad_seconds_options(tmp_path: Path, option: list[str], message: str) -> None:
    done = run(tmp_path, "-i", str(setup(tmp_path)), "deploy", "--all", *option)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
