"""The CLI on a pod with files: diff shows a unified diff per file after the manifest's,
status shows each file's state (JSON and -o wide), render --files prints them, and a file's
bad path is refused before any node is touched."""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
from pathlib import Path

from tests.fakes.agent import FakeAgent, write_inventory
from tests.fakes.pty import SPCTL
from tests.fakes.ssh_server import FakeNode

CONF = "/etc/web/site.conf"
TEMPLATE = (
    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: static-web\nspec:\n  containers:\n"
    "  - name: web\n    image: nginx:1.27\n    volumeMounts:\n    - {name: conf, mountPath: "
    "/etc/nginx/conf.d}\n  volumes:\n  - name: conf\n    hostPath: {path: /etc/web}\n"
)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class FilesAgent(FakeAgent):
    """A node where spctl wrote site.conf as "listen 80" (and the manifest is not there)."""

    def facts(self) -> dict:
        facts = copy.deepcopy(super().facts())
        facts["files"][CONF] = "listen 80;\n"
        facts["pod_files"] = {
            CONF: {
                "exists": True,
                "type": "file",
                "sha256": sha("listen 80;\n"),
                "size": 11,
                "mode": 0o644,
                "owner": "root",
                "group": "root",
            },
            "/etc/web/extra.conf": {"exists": False},
        }
        facts["owned_files"] = {CONF: {"pod": "static-web", "sha256": sha("listen 80;\n")}}
        return facts


def inventory(tmp_path: Path, node: FakeNode, files: str) -> Path:
    inv = write_inventory(tmp_path, {"my-node1": node}, ("static-web",))
    (tmp_path / "templates" / "static-web.yaml.j2").write_text(TEMPLATE)
    (tmp_path / "templates" / "site.conf.j2").write_text("listen {{ port }};\n")
    (tmp_path / "templates" / "extra.conf").write_text("gzip on;\n\x1b[2J\n")
    text = inv.read_text().replace(
        "  pods: [static-web]",
        f"  vars: {{port: 8080}}\n  pods:\n    - name: static-web\n      files: {files}",
    )
    inv.write_text(text)
    return inv


FILES = (
    f"[{{path: {CONF}, template: site.conf.j2}}, "
    '{path: /etc/web/extra.conf, source: extra.conf, mode: "0600"}]'
)


def spctl(tmp_path: Path, inv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SPCTL, "-i", str(inv), *args], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )


def test_diff_status_and_render_show_the_files(tmp_path: Path) -> None:
    agent = FilesAgent("my-node1")
    with FakeNode(agent) as n1:
        inv = inventory(tmp_path, n1, FILES)
        diff = spctl(tmp_path, inv, "diff", "--node", "my-node1")
        status = spctl(tmp_path, inv, "status", "--node", "my-node1", "-o", "json")
        wide = spctl(tmp_path, inv, "status", "--node", "my-node1", "-o", "wide")
    render = spctl(tmp_path, inv, "render", "--files")
    assert diff.returncode == 1, diff.stdout + diff.stderr
    assert "spctl.io/files-sha256: " in diff.stdout  # the manifest carries the digest
    assert f"--- a{CONF}\n+++ b{CONF}\n@@ -1 +1 @@\n-listen 80;\n+listen 8080;\n" in diff.stdout
    assert "--- /dev/null\n+++ b/etc/web/extra.conf\n" in diff.stdout
    assert "\x1b" not in diff.stdout and "+\\x1b[2J" in diff.stdout
    (facts_request, *_) = [r for r in agent.requests if r.get("op") == "facts"]
    assert facts_request["pod_files"] == [CONF, "/etc/web/extra.conf"]
    (node,) = json.loads(status.stdout)["nodes"]
    (pod,) = node["pods"]
    assert pod["files"] == [
        {"path": CONF, "state": "drifted"},
        {"path": "/etc/web/extra.conf", "state": "missing"},
    ]
    assert "FILES" in wide.stdout and f"{CONF}:drifted" in wide.stdout
    assert "/etc/web/extra.conf:missing" in wide.stdout
    assert render.returncode == 0, render.stderr
    assert f"path: {CONF}  mode: 0644  owner: root  group: root" in render.stdout
    assert "listen 8080;\n" in render.stdout
    assert "path: /etc/web/extra.conf  mode: 0600" in render.stdout
    assert "\x1b" not in render.stdout


def test_deploy_sends_the_files_with_the_pod(tmp_path: Path) -> None:
    agent = FilesAgent("my-node1")
    with FakeNode(agent) as n1:
        inv = inventory(tmp_path, n1, FILES)
        done = spctl(tmp_path, inv, "deploy", "--node", "my-node1")
    assert done.returncode == 0, done.stdout + done.stderr
    (apply,) = [r for r in agent.requests if r.get("op") == "apply"]
    (change,) = apply["changes"]
    assert change["action"] == "create"
    assert [(f["path"], f["action"], f["expected_sha256"], f["mode"]) for f in change["files"]] == [
        (CONF, "write", sha("listen 80;\n"), 0o644),
        ("/etc/web/extra.conf", "write", None, 0o600),
    ]


def test_a_bad_file_path_is_refused_before_any_node_is_touched(tmp_path: Path) -> None:
    agent = FilesAgent("my-node1")
    with FakeNode(agent) as n1:
        inv = inventory(tmp_path, n1, "[{path: /etc/kubernetes/manifests/x.conf, source: x}]")
        done = spctl(tmp_path, inv, "deploy", "--node", "my-node1")
        diff = spctl(tmp_path, inv, "diff", "--node", "my-node1")
    for result in (done, diff):
        assert result.returncode == 2, result.stdout + result.stderr
        assert "defaults.pods[0] (static-web).files[0].path" in result.stderr
        assert "the kubelet would parse it as a pod" in result.stderr
    assert agent.requests == []
