"""Planning scenarios: each file in tests/cases/plan/ is node facts + desired pods -> the plan.

A case file holds:
  node:     inventory fields of the node (profile, manifest_dir)
  units:    systemd units as the agent reports them (name -> properties)
  files:    configuration files on the node (path -> content)
  dirs:     manifest directories (path -> {file name: content}); `owned: [file, ...]` marks
            the files spctl wrote; `written: {file: content}` the files spctl wrote with
            that content (changed on the node since, when it differs from the file's)
  force:    plan as deploy --force does
  kubelets: what the running kubelet watches, from its process (unit -> {manifest_dir})
  unsafe_dirs: directories the agent found writable by others (path -> why)
  desired:  pods to deploy (name -> manifest text, or {manifest, files: {path: content, or
            {content, mode, owner, group, secret}}})
  pod_files: a pod's files on the node (path -> {content, mode, owner, group, type} | null:
            absent); owned_files: those spctl wrote (path -> {pod, written: what it wrote,
            default the file's content})
  hostname, os_release: as the agent reports them
  running_dirs: directories the running kubelet was started with (the agent lists them)
  expect:   profile, manifest_dir, node_name, node_ip (default null), kubelet (null or {file, contains, not_contains,
            daemon_reload, mode}), pods (name -> action), files (path -> action: write,
            remove, unchanged), file_states (path -> in-sync, drifted, missing,
            changed-on-node), file_diffs (path -> substrings of the pod's diff), reasons (name -> a substring of
            its step's reason), warnings (substrings), error
            (substring; `error_contains`: more substrings of it, `error_not_contains`: none
            of these), switch (the kubelet
            changes source: directory <-> URL)

URL mode: ``node: {source: url}`` plans with ``plan.url.plan_url`` (token TOKEN, url.base
URL_BASE); a case with a top-level ``url: true`` and a file-mode node plans with
``plan.url.plan_file`` (leaving URL mode). In files, ``@TOKEN@`` stands for TOKEN.

Facts are read as ``verbs.read.read_facts`` reads them (tests/fakes/node_facts.py): the
profiles' request first (files, drop-in globs), then the follow-up the first answer asks for
(a custom data dir or config file): a file or directory the case does not hold is absent on
the node.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from spctl.desired.inventory import Node, SSHSettings
from spctl.desired.render import DesiredFile, DesiredPod
from spctl.errors import SpctlError
from spctl.plan.directory import plan_deploy
from spctl.plan.model import Plan
from spctl.plan.url import plan_file, plan_url
from tests.fakes import paths
from tests.fakes.node_facts import facts_from_case

TOKEN = "0123abcd" * 8  # noqa: S105 - a test token
URL_BASE = "http://10.0.0.5:8080"
CASES = sorted((paths.CASES / "plan").glob("*.yaml"))


def _desired(name: str, spec: object) -> DesiredPod:
    """A desired pod of a case: its manifest text, or {manifest, files}."""
    if isinstance(spec, str):
        return DesiredPod(name, f"{name}.yaml.j2", spec)
    assert isinstance(spec, dict)
    files = []
    for path, f in (spec.get("files") or {}).items():
        f = f if isinstance(f, dict) else {"content": f}
        files.append(
            DesiredFile(
                path,
                str(f.get("content", "")).encode(),
                mode=f.get("mode", 0o600 if f.get("secret") else 0o644),
                owner=f.get("owner"),
                group=f.get("group"),
                secret=bool(f.get("secret")),
            )
        )
    return DesiredPod(name, f"{name}.yaml.j2", spec["manifest"], files=tuple(files))


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_plan_case(path: Path) -> None:
    case = yaml.safe_load(path.read_text().replace("@TOKEN@", TOKEN))
    node_fields = case.get("node") or {}
    node = Node(
        name="my-node1",
        address="127.0.0.1",
        ssh=SSHSettings(),
        profile=node_fields.get("profile"),
        manifest_dir=node_fields.get("manifest_dir"),
        source=node_fields.get("source", "file"),
        manifest_url=f"{URL_BASE}/nodes/my-node1/pods.json"
        if node_fields.get("source") == "url"
        else None,
    )
    desired = [_desired(name, spec) for name, spec in (case.get("desired") or {}).items()]
    facts = facts_from_case(case)
    expect = case["expect"]

    def make_plan() -> Plan:
        # URL mode (spctl/plan/url.py): a node in source url, or one whose kubelet may still
        # fetch spctl's URL; the token is TOKEN, url.base is URL_BASE.
        force = bool(case.get("force"))
        if node.source == "url":
            return plan_url(node, desired, facts, TOKEN, force)
        if "url" in case:
            return plan_file(node, desired, facts, URL_BASE, force)
        return plan_deploy(node, desired, facts, force)

    if "error" in expect:
        with pytest.raises(SpctlError) as raised:
            make_plan()
        for text in [expect["error"], *expect.get("error_contains", [])]:
            assert text in str(raised.value), str(raised.value)
        for text in expect.get("error_not_contains", []):
            assert text not in str(raised.value), str(raised.value)
        assert TOKEN not in str(raised.value)
        return
    plan = make_plan()
    assert plan.switch is bool(expect.get("switch")), plan.switch
    assert TOKEN not in plan.kubelet_diff()
    assert plan.profile == expect["profile"]
    assert plan.manifest_dir == expect["manifest_dir"]
    if "node_name" in expect:
        assert plan.node_name == expect["node_name"]
    assert plan.node_ip == expect.get("node_ip"), plan.node_ip
    kubelet = expect.get("kubelet")
    if kubelet is None:
        assert plan.kubelet is None
    else:
        assert plan.kubelet is not None
        edit = {f.path: f.new for f in plan.kubelet.files}
        if "reason" in kubelet:
            assert kubelet["reason"] in plan.kubelet.reason, plan.kubelet.reason
        if kubelet.get("restart_only"):
            assert edit == {}
            kubelet = {**kubelet, "file": None}
            edit = {None: ""}
        assert kubelet["file"] in edit
        for text in kubelet.get("contains", []):
            assert text in edit[kubelet["file"]]
        for text in kubelet.get("not_contains", []):
            assert text not in edit[kubelet["file"]]
        if "mode" in kubelet:
            modes = {f.path: f.mode for f in plan.kubelet.files}
            assert modes[kubelet["file"]] == kubelet["mode"]  # YAML 0600 is octal
        if "daemon_reload" in kubelet:
            assert plan.kubelet.daemon_reload is kubelet["daemon_reload"]
    assert {p.name: p.action for p in plan.pods} == expect.get("pods", {})
    for name, text in (expect.get("reasons") or {}).items():
        reason = next(p for p in plan.pods if p.name == name).reason
        assert text in reason, reason
    for name, path in (expect.get("retires") or {}).items():
        assert next(p for p in plan.pods if p.name == name).from_path == path
    file_steps = {f.path: f for p in plan.pods for f in p.files}
    assert {path: f.action for path, f in file_steps.items()} == expect.get("files", {})
    for path, state in (expect.get("file_states") or {}).items():
        assert file_steps[path].state == state, file_steps[path]
    diffs = "".join(p.diff for p in plan.pods)
    for text in expect.get("diff_contains", []):
        assert text in diffs, diffs
    for text in expect.get("diff_not_contains", []):
        assert text not in diffs, diffs
    for text in expect.get("warnings", []):
        assert any(text in w for w in plan.warnings), plan.warnings
    if not expect.get("warnings"):
        assert plan.warnings == ()
