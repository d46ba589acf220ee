"""The facts call (agent/facts.py): what it lists and reads, as the kubelet would see a
manifest directory (fifos, devices and links by type, never opened; stray JSON), secrets
redacted, glob patterns as glob's, pod names guessed without YAML, and no heavy module
loaded for it."""

from __future__ import annotations

import glob
import hashlib
import io
import os
import subprocess
import sys
import zipfile

import pytest
from spctl_agent import facts as agent_facts
from spctl_agent.facts import dir_listing, guess_pod_name
from spctl_agent.main import handle

from spctl.transport.agent_archive import agent_archive
from tests.fakes.agent_node import make_node, pod


@pytest.fixture
def node(tmp_path):
    return make_node(tmp_path)


@pytest.mark.parametrize(
    "text, name",
    [
        (
            "apiVersion: v1\nkind: Pod\nmetadata:\n  labels:\n    name: decoy\n  name: static-web\n",
            "static-web",
        ),
        ('{"metadata": {"name": "from-json"}}', "from-json"),
        ("metadata:\n  name: 'quoted'  # comment\n", "quoted"),
        ("kind: Pod\n", None),
    ],
)
def test_guess_pod_name(text, name):
    assert agent_facts.guess_pod_name(text.encode()) == name


def test_facts_lists_manifests_owned_files_and_the_runtimes_pods(tmp_path):
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "static-web.yaml").write_text("metadata:\n  name: static-web\n")
    (manifests / ".hidden").write_text("x")
    node = make_node(tmp_path)
    node._runtime.pods = [pod()]
    answer = handle(
        {"op": "facts", "pods": ["static-web"], "manifest_dirs": [str(manifests)]}, node
    )
    assert answer["ok"], answer
    entries = {e["name"]: e for e in answer["dirs"][str(manifests)]["entries"]}
    assert entries["static-web.yaml"]["pod_name"] == "static-web"
    assert "sha256" not in entries[".hidden"]  # the kubelet ignores dot files: so do we
    assert answer["files"][str(manifests / "static-web.yaml")].startswith("metadata:")
    assert [p["uid"] for p in answer["runtime"]["pods"]] == ["u1"]


def test_redact_without_secrets_is_the_text_itself():
    plain = 'KUBELET_ARGS="--pod-manifest-path=/etc/kubelet.d"\n# comment\n'
    assert agent_facts.redact(plain) == plain
    assert agent_facts.redact("K3S_TOKEN=abc\nX=1\n") == "K3S_TOKEN=REDACTED-BY-SPCTL\nX=1\n"


def test_glob_of_facts_patterns_as_glob(tmp_path):
    drop_ins = tmp_path / "config.yaml.d"
    drop_ins.mkdir()
    for name in ("10-a.yaml", ".hidden", "20-b.yaml"):
        (drop_ins / name).write_text("x")
    (tmp_path / "config.yaml").write_text("x")
    os.symlink("/nonexistent", tmp_path / "dangling")
    for pattern in [
        f"{drop_ins}/*",
        f"{tmp_path}/config.yaml",
        f"{tmp_path}/dangling",
        f"{tmp_path}/missing",
        f"{tmp_path}/missing.d/*",
        f"{tmp_path}/config.yaml/*",
        f"{drop_ins}/1*",
    ]:
        assert sorted(agent_facts._glob(pattern)) == sorted(glob.glob(pattern)), pattern


def test_a_facts_call_imports_none_of_the_heavy_modules(tmp_path):
    """What a facts call loads on the node: no re, json, subprocess, socket, hashlib, enum."""
    code = (
        "import sys\n"
        "from spctl_agent import main, facts, node\n"
        "from spctl_agent.system import http\n"
        "from spctl_agent.runtime import cri, grpc, docker, hpack, proto\n"
        "print(' '.join(sorted(m for m in ('re', 'json', 'subprocess', 'socket', 'hashlib',"
        " 'enum', 'glob', 'threading', 'selectors') if m in sys.modules)))\n"
    )
    zipfile.ZipFile(io.BytesIO(agent_archive())).extractall(tmp_path)  # as on a node
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            f"import sys; sys.path[:0] = [{str(tmp_path)!r}]\n" + code,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == ""


WEB = b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_fifos_devices_and_symlinks_are_listed_by_type_never_read(tmp_path, no_hang):
    d = tmp_path / "manifests"
    d.mkdir(mode=0o755)
    os.mkfifo(d / "fifo.yaml")
    (d / "zero.yaml").symlink_to("/dev/zero")
    (d / "web.yaml").write_bytes(WEB)
    listing = dir_listing(str(d), str(tmp_path))
    by_name = {e["name"]: e for e in listing["entries"]}
    assert by_name["fifo.yaml"] == {"name": "fifo.yaml", "type": "fifo"}
    assert by_name["zero.yaml"] == {"name": "zero.yaml", "type": "symlink"}
    assert by_name["web.yaml"]["sha256"] == sha(WEB)
    assert listing["unsafe"] is None


def test_dev_as_a_manifest_directory_is_listed_without_reading_a_device(no_hang):
    listing = dir_listing("/dev")
    types = {e["name"]: e["type"] for e in listing["entries"]}
    assert types["zero"] == "char-device" and types["null"] == "char-device"
    assert all("sha256" not in e for e in listing["entries"] if e["type"] != "file")


@pytest.mark.parametrize(
    "data",
    [b'{"metadata": []}', b"[1, 2]", b'{"metadata": {"name": 5}}', b'"x"', b"null"],
)
def test_stray_json_in_a_listed_directory_does_not_break_facts(tmp_path, data):
    assert guess_pod_name(data) is None
    d = tmp_path / "manifests"
    d.mkdir()
    (d / "stray.json").write_bytes(data)
    answer = handle({"op": "facts", "manifest_dirs": [str(d)]}, make_node(tmp_path))
    assert answer["ok"], answer
    assert answer["dirs"][str(d)]["entries"][0]["sha256"] == sha(data)
