"""The facts call's lean paths give what the standard library's general ones give: JSON
without the json package, setting scans without re, commands without subprocess."""

from __future__ import annotations

import glob
import hashlib
import io
import json
import os
import random
import re
import subprocess
import sys
import zipfile

import pytest
from spctl_agent import facts as agent_facts
from spctl_agent.protocol import systemd_show
from spctl_agent.runtime import docker
from spctl_agent.system import http, jsonfast, text
from spctl_agent.system.commands import capture
from spctl_agent.system.errors import AgentError
from spctl_agent.system.files import sha256_bytes

from spctl.remote import agent_archive


def test_jsonfast_dumps_as_json_dumps():
    for value in [
        {"a": [1, 2.5, None, True, False, "é\u2028\x00", -0.0, 1e300, 10**30], "b": {}},
        [],
        {"nan": float("nan"), "inf": float("inf")},
        {"nested": [{"x": [[]]}]},
    ]:
        assert jsonfast.dumps(value) == json.dumps(value)


def test_jsonfast_dumps_refuses_what_json_refuses():
    loop: dict = {}
    loop["self"] = loop
    with pytest.raises(ValueError):
        jsonfast.dumps(loop)
    with pytest.raises(TypeError):
        jsonfast.dumps({"x": object()})


def test_jsonfast_loads_as_json_loads():
    for doc in [' {"a": [1, 2.5e3, null, "\\u00e9"], "b": true}\n', "[NaN, -Infinity]", '"x"', "3"]:
        assert repr(jsonfast.loads(doc)) == repr(json.loads(doc))


@pytest.mark.parametrize("doc", ["apiVersion: v1\n", '{"a": 1} x', "", "  ", '{"a": }', "[1,"])
def test_jsonfast_loads_refuses_what_json_refuses(doc):
    with pytest.raises(ValueError):
        json.loads(doc)
    with pytest.raises(ValueError):
        jsonfast.loads(doc)


def _random_texts(alphabet, count, seed=7):
    rng = random.Random(seed)
    for _ in range(count):
        yield "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))


def test_yaml_setting_matches_the_pattern():
    pattern = re.compile(r"^staticPodPath:\s*['\"]?([^'\"\s#]+)", re.M)
    alphabet = ["staticPodPath:", "\n", " ", "'", '"', "#", "/etc/k", "x", "\t", "\u00a0"]
    alphabet.append("staticPodPath: /etc/kubernetes/manifests # the default\n")
    for sample in _random_texts(alphabet, 30000):
        match = pattern.search(sample)
        assert text.yaml_setting(sample, "staticPodPath") == (match and match.group(1))


def test_env_file_paths_matches_the_pattern():
    pattern = r"(/\S*(?: \S+)*?) \(ignore_errors=(?:yes|no)\)"
    alphabet = [
        " (ignore_errors=yes)",
        " (ignore_errors=no)",
        "/",
        "/etc/a b",
        " ",
        "  ",
        "x",
        "\t",
    ]
    for sample in _random_texts(alphabet, 30000):
        assert systemd_show.env_file_paths(sample) == re.findall(pattern, sample)
    # systemctl show's own lines
    assert systemd_show.env_file_paths("/etc/sysconfig/kubelet (ignore_errors=yes)") == [
        "/etc/sysconfig/kubelet"
    ]


def test_healthz_url_parts_match_the_pattern():
    pattern = r"http://([^/:]+)(?::(\d+))?(/.*)?$"
    alphabet = ["http://", "127.0.0.1", ":", "10248", "/healthz", "/", "\n", "x", "٣"]
    for sample in _random_texts(alphabet, 30000):
        match = re.match(pattern, sample)
        assert http._parse_url(sample) == (match.groups() if match else None)


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


def test_sha256_as_hashlib():
    assert sha256_bytes(b"static pod") == hashlib.sha256(b"static pod").hexdigest()


def test_capture_returns_stdout_and_ignores_stderr_and_status():
    out = capture(["sh", "-c", "printf 'a\\r\\nb\\n'; echo oops >&2; exit 3"], timeout=10)
    assert out == "a\nb\n"


def test_capture_gives_up_after_its_timeout():
    with pytest.raises(AgentError, match="did not finish within 1s"):
        capture(["sleep", "30"], timeout=1)


def test_capture_of_a_missing_program_is_an_os_error():
    with pytest.raises(OSError):
        capture(["/nonexistent/spctl-no-such-program"], timeout=5)


def test_docker_exit_code_as_the_pattern():
    assert docker._exited("Up 5 minutes") is None
    assert docker._exited("Exited (137) 2 seconds ago").group(1) == "137"


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
