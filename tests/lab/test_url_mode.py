"""URL mode end to end on the lab: `spctl serve` runs on the control host, listening on the
lab network's gateway address (the one address of this machine the nodes reach), and the
fedora node my-node1 switches from its directory to its URL and back.

While it switches, a watcher samples the node's runtime: at no moment do two static-web
pods run (file and http pods of one name have different UIDs, and a kubelet given both
would run both), and the pod is absent only around the kubelet's restart.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from spctl import manifest_url
from spctl.desired.inventory import URLSettings
from tests.fakes.lab import (
    INVENTORY,
    SPCTL,
    STATE,
    LabSession,
    spctl,
    spctl_json,
    wait_until,
)

NODE = "my-node1"
URL_INVENTORY = STATE / "url-inventory.yaml"
SECRET = STATE / "url.secret"
#: The longest the pod may be absent around one kubelet restart (stop, start, sync).
MAX_GAP = 20.0


def gateway(lab: LabSession) -> str:
    """The lab network's gateway: this machine's address on the nodes' network."""
    network = lab.lab.client.networks.get(lab.lab.name)
    return str(network.attrs["IPAM"]["Config"][0]["Gateway"])


def free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


def write_inventory(base: str, source: str, port: int = 80) -> None:
    data = yaml.safe_load(INVENTORY.read_text())
    data["url"] = {"base": base, "secret_file": SECRET.name}
    node = data["nodes"][NODE]
    node["source"] = source
    node.setdefault("vars", {})["port"] = port
    text = yaml.safe_dump(data, sort_keys=False)
    tmp = URL_INVENTORY.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, URL_INVENTORY)


class Watcher:
    """Samples the running static-web pods of the node every few tenths of a second."""

    def __init__(self, lab: LabSession) -> None:
        self.lab = lab
        self.samples: list[tuple[float, list[str]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                uids = self.lab.running_pod_uids(NODE)
            except Exception:  # noqa: S112 - one lost sample is not a finding
                continue
            self.samples.append((time.monotonic(), uids))
            time.sleep(0.2)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def gaps(self) -> list[float]:
        """How long each stretch without a running pod lasted."""
        gaps, since = [], None
        for at, uids in self.samples:
            if not uids and since is None:
                since = at
            elif uids and since is not None:
                gaps.append(at - since)
                since = None
        if since is not None:
            gaps.append(float("inf"))
        return gaps


@pytest.fixture(scope="module")
def server(lab: LabSession) -> Iterator[dict[str, Any]]:
    address = gateway(lab)
    port = free_port(address)
    base = f"http://{address}:{port}"
    SECRET.unlink(missing_ok=True)
    write_inventory(base, "file")
    init = spctl("serve", "--init-secret", inventory=URL_INVENTORY)
    assert init.returncode == 0, init.stderr
    log = open(STATE / "url-serve.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(  # noqa: S603
        [SPCTL, "-i", str(URL_INVENTORY), "serve", "--listen", f"{address}:{port}", "--poll", "1"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: _healthy(base), timeout=30, what="spctl serve to answer")
        yield {"base": base, "proc": proc}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _healthy(base: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(base + "/healthz", timeout=2) as answer:  # noqa: S310
            return bool(answer.status == 200)
    except OSError:
        return False


def digest(base: str) -> dict[str, Any]:
    from spctl.transport.serve_client import fetch_digest

    return fetch_digest(URLSettings(base=base, secret_file=SECRET), _node())


def _node() -> Any:
    from spctl.desired.inventory import load_inventory

    return load_inventory(URL_INVENTORY).nodes[NODE]


def served_now(base: str) -> bool:
    """The server has reloaded the inventory as it is now (it polls every second)."""
    from spctl.desired.inventory import load_inventory
    from spctl.desired.render import render_node
    from spctl.transport.serve_client import ServerError
    from spctl.verbs.source import expected_sha256

    inventory = load_inventory(URL_INVENTORY)
    node = inventory.nodes[NODE]
    try:
        return digest(base)["sha256"] == expected_sha256(node, render_node(node, inventory.fleet))
    except ServerError:  # not reloaded yet: another secret until it has
        return False


def deploy() -> dict[str, Any]:
    result = spctl_json("deploy", "static-web", "--node", NODE, inventory=URL_INVENTORY)
    row = next(n for n in result["nodes"] if n["name"] == NODE)
    assert row["ok"], row
    return row


def kubelet_args(lab: LabSession) -> str:
    return lab.out(NODE, '. /etc/kubernetes/kubelet; echo "$KUBELET_ARGS"').strip()


def test_url_mode_end_to_end(lab: LabSession, server: dict[str, Any]) -> None:
    base = server["base"]
    # Start in directory mode, the pod running from its file; the kubelet polls its URL
    # every 2 s once it has one (an operator's choice; 20 s by default).
    deploy()
    lab.out(
        NODE,
        "grep -q http-check-frequency /etc/kubernetes/kubelet || sed -i "
        "'s/^KUBELET_ARGS=\"/KUBELET_ARGS=\"--http-check-frequency=2s /' /etc/kubernetes/kubelet",
    )
    file_uid = lab.running_pod_uids(NODE)
    assert len(file_uid) == 1

    with Watcher(lab) as watcher:
        # file -> url: the server serves the pods first, then one switch.
        write_inventory(base, "url")
        wait_until(lambda: served_now(base), timeout=30, what="the server to serve URL mode")
        row = deploy()
        assert row["kubelet_restarted"], row
        assert lab.sh(NODE, "test -e /etc/kubelet.d/static-web.yaml").exit_code != 0
        args = kubelet_args(lab)
        assert f"--manifest-url={base}/nodes/{NODE}/pods.json" in args
        assert "--manifest-url-header=X-Spctl-Token:" in args
        assert lab.out(NODE, "stat -c %a /etc/kubernetes/kubelet").strip() == "600"
        url_uid = lab.running_pod_uids(NODE)
        assert len(url_uid) == 1 and url_uid != file_uid
        fetched = digest(base)["last_fetch"]
        assert fetched and fetched["remote"] and fetched["sha256"] == digest(base)["sha256"]

        # status: the URL, in sync, the pod the kubelet runs from it
        status = spctl_json("status", "--node", NODE, inventory=URL_INVENTORY)
        node = status["nodes"][0]
        assert node["url"]["url"] == f"{base}/nodes/{NODE}/pods.json"
        assert node["url"]["served"] == "in-sync"
        assert node["url"]["last_fetch"]["sha256"] == node["url"]["expected_sha256"]
        web = next(p for p in node["pods"] if p["name"] == "static-web")
        assert (web["pod"], web["phase"], web["manifest"]) == (
            f"static-web-{NODE}",
            "Running",
            "in-sync",
        )

        # a change served and picked up: the pod is replaced, no kubelet restart
        write_inventory(base, "url", port=8081)
        wait_until(lambda: served_now(base), timeout=30, what="the server to serve the change")
        row = deploy()
        assert not row["kubelet_restarted"], row
        changed_uid = wait_until(
            lambda: (u := lab.running_pod_uids(NODE)) and u != url_uid and u,
            timeout=60,
            what="the changed pod",
        )
        assert len(changed_uid) == 1

        # a wrong token: the server refuses it (403), the kubelet keeps its pods
        good = SECRET.read_bytes()
        try:
            tmp = SECRET.with_suffix(".new")
            tmp.write_text(secrets.token_hex(32) + "\n")
            tmp.chmod(0o600)
            os.replace(tmp, SECRET)
            time.sleep(8)  # the server reloads within 1 s; the kubelet polls 3 times
            assert lab.running_pod_uids(NODE) == changed_uid
            refused = lab.sh(
                NODE,
                f"python3 -c \"import urllib.request as u; u.urlopen(u.Request('{base}/nodes/"
                f"{NODE}/pods.json', headers={{'{manifest_url.TOKEN_HEADER}': 'wrong'}}))\"",
            )
            assert refused.exit_code != 0 and b"403" in refused.stderr, refused.stderr
        finally:
            tmp = SECRET.with_suffix(".new")
            tmp.write_bytes(good)
            tmp.chmod(0o600)
            os.replace(tmp, SECRET)

        # url -> file: the file comes back and the URL goes, in one switch
        write_inventory(base, "file", port=8081)
        wait_until(lambda: served_now(base), timeout=30, what="the server to serve file mode")
        row = deploy()
        assert row["kubelet_restarted"], row
        assert "--manifest-url" not in kubelet_args(lab)
        assert lab.sh(NODE, "test -e /etc/kubelet.d/static-web.yaml").exit_code == 0
        back_uid = lab.running_pod_uids(NODE)
        assert len(back_uid) == 1 and back_uid != changed_uid
        time.sleep(3)

    assert watcher.samples, "the watcher saw nothing"
    both = [(at, uids) for at, uids in watcher.samples if len(uids) > 1]
    assert both == [], f"two static-web pods at once: {both[:3]}"
    gaps = watcher.gaps()
    # absent only around the two switches' restarts and the served change's replacement
    assert len(gaps) <= 3 and all(g < MAX_GAP for g in gaps), gaps


def test_z_url_inventory_cleanup(lab: LabSession) -> None:
    """Leave my-node1 as the other lab tests expect it: in directory mode (done above)."""
    assert "--manifest-url" not in kubelet_args(lab)
    for path in (URL_INVENTORY, SECRET):
        Path(path).unlink(missing_ok=True)
