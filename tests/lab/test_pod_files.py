"""A pod and its files in one transaction, through `spctl deploy`, on a Docker node and a
containerd node at once: the page static-web serves is a file spctl delivers (a template)
beside a secret file; a change of the page is a new pod, gated on the pod's readiness probe
(which reads the page); a change whose pod never gets ready puts back the previous page
and the previous pod (its UID); the secret's value never appears in any output; `remove`
takes the files away with the pod."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import yaml

from tests.fakes.lab import INVENTORY, REPO, SPCTL, STATE, WEB, LabSession, spctl

NODES = ("my-node1", "my-node2")
PAGE = "/etc/spctl-lab-web/index.html"
KEY = "/etc/spctl-lab-web/key.pem"
SECRET = "s3cret-never-shown-8f2a"
# The page is mounted where the image serves from; the probe reads it: a page without
# "ready" in it is a pod that never gets ready.
WEB_WITH_PAGE = (
    WEB
    + """      readinessProbe:
        exec: {command: [sh, -c, 'read word rest < /www/index.html && test "$word" = ready']}
        periodSeconds: 1
        timeoutSeconds: 5
      volumeMounts:
        - {name: www, mountPath: /www}
  volumes:
    - name: www
      hostPath: {path: /etc/spctl-lab-web, type: DirectoryOrCreate}
"""
)


def inventory(tmp_path: Path, page: str) -> Path:
    directory = tmp_path / page.replace(" ", "-")
    (directory / "templates").mkdir(parents=True)
    (directory / "templates" / "static-web.yaml.j2").write_text(WEB_WITH_PAGE)
    (directory / "templates" / "index.html.j2").write_text(page + " on {{ node.name }}\n")
    data = yaml.safe_load(INVENTORY.read_text())
    data["defaults"]["ssh"]["key"] = str(STATE / "id_ed25519")
    data["defaults"]["ssh"]["known_hosts"] = str(STATE / "known_hosts")
    data["templates"] = "templates"
    data["defaults"]["pods"] = [
        {
            "name": "static-web",
            "files": [
                {"path": PAGE, "template": "index.html.j2"},
                {"path": KEY, "secret": {"env": "SPCTL_LAB_KEY"}},
            ],
        }
    ]
    path = directory / "inventory.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def run(path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SPCTL_LAB_KEY": SECRET}
    done = subprocess.run(
        [SPCTL, "-i", str(path), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    shown = done.stdout + done.stderr
    assert SECRET not in shown, f"spctl {' '.join(args)} showed the secret"
    return done


def deploy(path: Path, timeout: str = "60") -> tuple[int, dict]:
    args = [a for n in NODES for a in ("--node", n)]
    done = run(path, "deploy", *args, "--timeout", timeout, "--stable-for", "1", "-o", "json")
    return done.returncode, json.loads(done.stdout)


def errors(result: dict) -> list:
    return [
        (n["name"], n.get("error"), [p.get("error") for p in n["pods"]]) for n in result["nodes"]
    ]


def state(lab: LabSession, node: str) -> tuple[str, list[str]]:
    return lab.out(node, f"cat {PAGE}"), sorted(lab.running_pod_uids(node))


def test_a_pods_files_change_with_it_and_come_back_with_it(lab: LabSession, tmp_path: Path) -> None:
    ready = inventory(tmp_path, "ready v1")
    code, result = deploy(ready)
    assert code == 0, errors(result)
    first = {n: state(lab, n) for n in NODES}
    for node in NODES:
        assert first[node][0] == f"ready v1 on {node}\n", first[node]
        assert lab.out(node, f"stat -c '%a %U' {KEY}").split() == ["600", "root"]
        assert lab.out(node, f"cat {KEY}") == SECRET

    # A new page is a new pod (its manifest's files digest changed), ready on the new page.
    code, result = deploy(inventory(tmp_path, "ready v2"))
    assert code == 0, errors(result)
    second = {n: state(lab, n) for n in NODES}
    for node in NODES:
        assert second[node][0] == f"ready v2 on {node}\n"
        assert second[node][1] and second[node][1] != first[node][1], (first, second)

    # A page the probe refuses: the pod never gets ready; the page and the pod come back.
    broken = inventory(tmp_path, "broken v3")
    code, result = deploy(broken, timeout="20")
    assert code == 1, result
    for node in NODES:
        row = next(n for n in result["nodes"] if n["name"] == node)
        assert row["pods"][0]["action"] == "failed", row
        assert state(lab, node) == second[node]

    # Every view of the pod, and the secret is in none of them (run() checks each).
    args = [a for n in NODES for a in ("--node", n)]
    assert run(broken, "diff", *args).returncode == 1
    status = run(ready, "status", *args, "-o", "json")
    assert status.returncode == 0, status.stderr
    assert run(ready, "render", "--files", *args).returncode == 0

    # remove: the pod goes, then its files.
    done = run(ready, "remove", "static-web", *args, "-o", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    for node in NODES:
        assert lab.sh(node, f"test -e {PAGE} || test -e {KEY}").exit_code != 0
    # Back to the lab's own static-web for the tests after this one.
    back = spctl("deploy", *args, "--stable-for", "1")
    assert back.returncode == 0, back.stderr
