"""Secret variables through the spctl command: refused in a manifest, shown nowhere.

The inventory's only node points at 127.0.0.1 port 1, where nothing listens: an error
about a secret that spctl reported after trying the node would be a connection error.
"""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import pyrage
import pytest
from pyrage import x25519

from tests.fakes.cli import POD_TEMPLATE, SPCTL

VALUE = "pw-9f3c1e7a-never-shown"


def write_site(tmp_path: Path, template: str, var: str) -> Path:
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "web.yaml.j2").write_text(template)
    path = tmp_path / "inventory.yaml"
    path.write_text(
        "templates: tpl\nsecrets: {age_key_file: age.key}\n"
        f"defaults:\n  vars: {{image: spctl-lab/pod:1.0, db_password: {{secret: {var}}}}}\n"
        "nodes:\n  n1:\n    address: 127.0.0.1\n    ssh: {port: 1}\n    pods: [web]\n"
    )
    return path


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SPCTL, *args], capture_output=True, text=True, timeout=60, env={**os.environ, **env}
    )


def assert_not_shown(done: subprocess.CompletedProcess) -> None:
    for stream in (done.stdout, done.stderr):
        assert VALUE not in stream
        assert base64.b64encode(VALUE.encode()).decode().rstrip("=") not in stream
        assert "AGE-SECRET-KEY-1" not in stream.upper().replace("AGE-SECRET-KEY-1...", "")


@pytest.mark.parametrize("kind", ["env", "age"])
def test_a_manifest_that_uses_a_secret_is_refused_and_nothing_shows_it(
    tmp_path: Path, kind: str
) -> None:
    key = x25519.Identity.generate()
    (tmp_path / "age.key").write_text(f"{key}\n")
    (tmp_path / "db.age").write_bytes(pyrage.encrypt(VALUE.encode(), [key.to_public()]))
    var = "{env: DB_PASSWORD}" if kind == "env" else "{age: db.age}"
    template = POD_TEMPLATE + "      args: ['{{ db_password }}']\n"
    inventory = write_site(tmp_path, template, var)
    env = {"DB_PASSWORD": VALUE}
    for verb in (["validate"], ["render"], ["deploy", "--all", "--dry-run"], ["deploy", "--all"]):
        done = run("-i", str(inventory), *verb, env=env)
        assert done.returncode == 2, (verb, done.stdout, done.stderr)
        assert (
            "node n1, pod web, template "
            f"{tmp_path / 'tpl' / 'web.yaml.j2'}: template uses secret variable db_password; "
            "secrets may go into files only"
        ) in done.stderr.replace("\n", " ")
        assert "cannot connect" not in done.stderr and "Traceback" not in done.stderr
        assert_not_shown(done)
    shown = run("-i", str(inventory), "inventory", "-o", "json", env=env)
    assert shown.returncode == 0 and '"db_password": {' in shown.stdout
    assert_not_shown(shown)


def test_a_secret_the_manifest_does_not_use_is_not_read(tmp_path: Path) -> None:
    inventory = write_site(tmp_path, POD_TEMPLATE, "{age: missing.age}")
    done = run("-i", str(inventory), "render", env={"SPCTL_AGE_KEY": ""})
    assert done.returncode == 0, done.stderr
    assert "image: spctl-lab/pod:1.0" in done.stdout


def test_a_plain_secret_file_in_the_repository_is_refused(tmp_path: Path) -> None:
    (tmp_path / "db.pw").write_text(VALUE)
    inventory = write_site(tmp_path, POD_TEMPLATE, "{file: db.pw}")
    done = run("-i", str(inventory), "validate", env={})
    assert done.returncode == 2
    assert "defaults.vars.db_password.secret.file: " in done.stderr
    assert "is inside the inventory's directory" in done.stderr.replace("\n", " ")
    assert_not_shown(done)
