"""spctl serve and render --out: each node gets its own pods, and only with its own token.

Every request goes to 127.0.0.1 on an ephemeral port. Answers are read with
``KubeletHTTPSource``, which follows the kubelet's HTTP source rule by rule.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from spctl import manifest_url
from spctl.desired.inventory import load_inventory
from spctl.errors import InventoryError
from spctl.serve.document import node_document
from spctl.serve.server import PodServer
from tests.fakes.certs import self_signed
from tests.fakes.cli import POD_TEMPLATE as TEMPLATE
from tests.fakes.cli import SPCTL
from tests.fakes.kubelet_http_source import KubeletHTTPSource
from tests.fakes.url_site import INVENTORY


def token(site: Path, node: str) -> str:
    return manifest_url.node_token(manifest_url.read_secret(site / "secret"), node)


def kubelet(server, site: Path, node: str, token_of: str | None = None) -> KubeletHTTPSource:
    headers = {manifest_url.TOKEN_HEADER: token(site, token_of or node)}
    return KubeletHTTPSource(server.base + manifest_url.node_path(node), headers, node)


def get(url: str, headers: dict[str, str] | None = None, method: str = "GET"):
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_inventory_url_mode_fields(site):
    inv = load_inventory(site / "inv.yaml", ssh_config=site / "none")
    assert inv.nodes["n1"].source == "url"
    assert inv.nodes["n1"].manifest_url == "http://192.0.2.10:8080/nodes/n1/pods.json"
    assert inv.nodes["filenode"].source == "file" and inv.nodes["filenode"].manifest_url is None
    assert inv.url.secret_file == site / "secret"
    assert inv.nodes["n1"].as_dict()["url"] == inv.nodes["n1"].manifest_url


@pytest.mark.parametrize(
    "text, message",
    [
        ("nodes:\n  a: {source: url}\n", "no `url: {base: ...}`"),
        ("nodes:\n  a: {source: http}\n", "source: 'http' must be one of file, url"),
        ("url: {base: 'ftp://x'}\nnodes:\n  a: {}\n", "must be an http:// or https:// URL"),
        ("url: {base: 'http://u:p@x'}\nnodes:\n  a: {}\n", "must not carry credentials"),
        ("url: {base: 'http://x', listen: '8080'}\nnodes:\n  a: {}\n", "must be ADDR:PORT"),
        ("url: {base: 'http://x'}\nnodes:\n  'a/b': {source: url}\n", "URL path segment"),
    ],
)
def test_bad_url_settings_are_named(tmp_path, text, message):
    (tmp_path / "inv.yaml").write_text(text)
    with pytest.raises(InventoryError) as raised:
        load_inventory(tmp_path / "inv.yaml", ssh_config=tmp_path / "none")
    assert message in str(raised.value)


def test_tokens_differ_per_node_and_with_the_secret(site, tmp_path):
    secret = manifest_url.read_secret(site / "secret")
    assert manifest_url.node_token(secret, "n1") != manifest_url.node_token(secret, "n2")
    assert len(manifest_url.node_token(secret, "n1")) == 64
    assert manifest_url.node_token(b"x" * 32, "n1") != manifest_url.node_token(secret, "n1")
    assert oct((site / "secret").stat().st_mode & 0o777) == "0o600"
    assert not manifest_url.init_secret(site / "secret")  # never overwritten
    assert manifest_url.read_secret(site / "secret") == secret


def test_secret_open_to_others_is_refused(site):
    os.chmod(site / "secret", 0o644)
    with pytest.raises(manifest_url.SecretError, match="chmod 600"):
        manifest_url.read_secret(site / "secret")


def test_each_node_gets_its_pods_as_the_kubelet_decodes_them(server, site):
    one, two = kubelet(server, site, "n1"), kubelet(server, site, "n2")
    assert one.poll() is None and two.poll() is None
    assert sorted(one.pods) == ["web-n1"]
    assert sorted(two.pods) == ["cache-n2", "web-n2"]
    assert one.pods["web-n1"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    # Exactly as validated: the served pod is the rendered manifest's data.
    inv = load_inventory(site / "inv.yaml", ssh_config=site / "none")
    from spctl.desired.render import render_node
    from spctl.desired.yamlio import parse_manifest

    rendered = render_node(inv.nodes["n1"], inv.fleet)
    assert list(one.pods.values()) == [parse_manifest(rendered[0].content, source="t")]


def test_wrong_token_is_refused_and_the_pods_stay(server, site, caplog):
    good = kubelet(server, site, "n1")
    assert good.poll() is None
    before = dict(good.pods)
    good.headers = {manifest_url.TOKEN_HEADER: "0" * 64}
    with caplog.at_level(logging.WARNING, logger="spctl.serve.server"):
        assert good.poll() == f"{good.url}: 403 Forbidden"
    assert good.pods == before  # the kubelet keeps what it had on a non-200 answer
    assert "node n1: wrong token from 127.0.0.1: refused" in caplog.text
    assert token(site, "n1") not in caplog.text and "0" * 64 not in caplog.text


def test_another_nodes_token_and_no_token_are_refused(server, site):
    thief = kubelet(server, site, "n1", token_of="n2")
    assert thief.poll() == f"{thief.url}: 403 Forbidden" and thief.pods is None
    status, _, _ = get(server.base + manifest_url.node_path("n1"))
    assert status == 403
    status, _, _ = get(
        server.base + "/nodes/n1/digest", {manifest_url.TOKEN_HEADER: token(site, "n2")}
    )
    assert status == 403


def test_unknown_node_and_path_are_404(server, site):
    assert get(server.base + "/nodes/n9/pods.json", {manifest_url.TOKEN_HEADER: "x"})[0] == 404
    assert (
        get(server.base + "/nodes/n1/other", {manifest_url.TOKEN_HEADER: token(site, "n1")})[0]
        == 404
    )
    assert get(server.base + "/healthz")[:3:2] == (200, b"ok\n")


def test_node_without_pods_and_file_node_get_an_empty_pod_list(server, site):
    for node in ("empty", "filenode"):
        source = kubelet(server, site, node)
        source.pods = {"stale-" + node: {}}
        assert source.poll() is None  # no error logged, unlike an empty body
        assert source.pods == {}
        assert source.data  # remembered: the same pods served again later are picked up
        assert json.loads(source.data)["kind"] == "PodList"


def test_etag_head_and_digest(server, site):
    headers = {manifest_url.TOKEN_HEADER: token(site, "n2")}
    status, got, body = get(server.base + manifest_url.node_path("n2"), headers)
    assert status == 200 and got["Content-Type"] == "application/json"
    sha = hashlib.sha256(body).hexdigest()
    assert got["ETag"] == f'"{sha}"'
    status, head, empty = get(server.base + manifest_url.node_path("n2"), headers, method="HEAD")
    assert (status, head["ETag"], empty, head["Content-Length"]) == (
        200,
        got["ETag"],
        b"",
        str(len(body)),
    )
    status, _, raw = get(server.base + "/nodes/n2/digest", headers)
    digest = json.loads(raw)
    assert status == 200 and digest["sha256"] == sha and digest["pods"] == ["web", "cache"]
    assert digest["last_fetch"]["sha256"] == sha and digest["last_fetch"]["remote"] == "127.0.0.1"
    assert digest["reload_error"] is None


def test_template_change_is_served_after_reload(server, site):
    source = kubelet(server, site, "n1")
    source.poll()
    text = (site / "templates" / "web.yaml.j2").read_text().replace("{{ image }}", "busybox:1.36")
    (site / "templates" / "web.yaml.j2").write_text(text)
    os.utime(site / "templates" / "web.yaml.j2", ns=(1, 1))  # a change even within mtime resolution
    assert server.check_for_changes()
    assert source.poll() is None
    assert source.pods["web-n1"]["spec"]["containers"][0]["image"] == "busybox:1.36"
    assert not server.check_for_changes()  # nothing changed since


def test_a_group_change_is_served_to_the_nodes_that_read_it(server, site):
    """n1's pod lists the members of `webs` (the fleet view): taking filenode out of the group
    changes n1's document at the next reload, although nothing of n1 itself changed."""
    members = "metadata:\n  annotations: {members: \"{{ groups.webs | join(',') }}\"}\n"
    text = TEMPLATE.replace("metadata:\n", members)
    (site / "templates" / "web.yaml.j2").write_text(text)
    assert server.reload("SIGHUP")
    source = kubelet(server, site, "n1")
    assert source.poll() is None

    def annotation() -> str:
        return source.pods["web-n1"]["metadata"]["annotations"]["members"]

    assert annotation() == "filenode,n1,n2"
    inventory = (site / "inv.yaml").read_text()
    (site / "inv.yaml").write_text(inventory.replace("[n1, n2, filenode]", "[n1, n2]"))
    os.utime(site / "inv.yaml", ns=(1, 1))  # a change even within mtime resolution
    assert server.check_for_changes()
    assert source.poll() is None
    assert annotation() == "n1,n2"


def test_bad_template_keeps_the_last_good_answer_and_logs(server, site, caplog):
    headers = {manifest_url.TOKEN_HEADER: token(site, "n1")}
    _, _, good = get(server.base + manifest_url.node_path("n1"), headers)
    (site / "templates" / "web.yaml.j2").write_text(TEMPLATE.replace("{{ image }}", "{{ imagee }}"))
    with caplog.at_level(logging.ERROR, logger="spctl.serve.server"):
        assert not server.check_for_changes()
    assert "reload (files changed) failed; still serving" in caplog.text
    assert "'imagee' is undefined" in caplog.text
    assert get(server.base + manifest_url.node_path("n1"), headers)[2] == good
    digest = json.loads(get(server.base + "/nodes/n1/digest", headers)[2])
    assert "'imagee' is undefined" in digest["reload_error"]
    # Fixed again: served again, and the error is gone.
    (site / "templates" / "web.yaml.j2").write_text(TEMPLATE.replace("nginx", "nginx"))
    assert server.reload("SIGHUP")
    assert json.loads(get(server.base + "/nodes/n1/digest", headers)[2])["reload_error"] is None


def test_inventory_change_adds_and_removes_nodes(server, site):
    text = INVENTORY.replace("n1", "n3")
    (site / "inv.yaml").write_text(text)
    assert server.reload()
    assert kubelet(server, site, "n3").poll() is None
    assert (
        get(
            server.base + manifest_url.node_path("n1"),
            {manifest_url.TOKEN_HEADER: token(site, "n1")},
        )[0]
        == 404
    )


def render_out(site: Path, out: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SPCTL, "-i", str(site / "inv.yaml"), "render", "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_render_out_writes_what_serve_answers(server, site, tmp_path):
    out = tmp_path / "www"
    done = render_out(site, out)
    assert done.returncode == 0, done.stderr
    for node in ("n1", "n2", "empty", "filenode"):
        path = out / "nodes" / node / manifest_url.DOCUMENT_FILE
        served = get(
            server.base + manifest_url.node_path(node),
            {manifest_url.TOKEN_HEADER: token(site, node)},
        )
        assert path.read_bytes() == served[2]
        assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert not [p for p in (out / "nodes" / "n1").iterdir() if p.name.startswith(".")]
    again = render_out(site, out)
    assert "unchanged" in again.stderr


def test_render_out_writes_nothing_when_a_node_fails(site, tmp_path):
    (site / "templates" / "cache.yaml.j2").write_text("metadata: {{ pod.name }\n")
    out = tmp_path / "www"
    done = render_out(site, out)
    assert done.returncode == 2 and "line 1" in done.stderr
    assert not out.exists()


def test_serve_process_reloads_on_sighup_and_stops_on_sigterm(site):
    proc = subprocess.Popen(
        [SPCTL, "-i", str(site / "inv.yaml"), "serve", "--listen", "127.0.0.1:0", "--poll", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = ""
        deadline = time.monotonic() + 60
        while "listening on" not in line and time.monotonic() < deadline:
            line = proc.stderr.readline()
        port = int(line.rsplit(":", 1)[1])
        base = f"http://127.0.0.1:{port}"
        headers = {manifest_url.TOKEN_HEADER: token(site, "n1")}
        assert b"nginx:1.27" in get(base + manifest_url.node_path("n1"), headers)[2]
        (site / "templates" / "web.yaml.j2").write_text(TEMPLATE.replace("{{ image }}", "busybox"))
        proc.send_signal(signal.SIGHUP)
        while "reloaded (SIGHUP)" not in line and time.monotonic() < deadline:
            line = proc.stderr.readline()
        assert b'"busybox"' in get(base + manifest_url.node_path("n1"), headers)[2]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        rest = proc.stderr.read()
        assert "SIGTERM: shutting down" in rest and "stopped" in rest
        assert token(site, "n1") not in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_print_token_and_init_secret(site, tmp_path):
    done = subprocess.run(
        [SPCTL, "-i", str(site / "inv.yaml"), "serve", "--print-token", "n2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stdout.strip() == token(site, "n2")
    (site / "secret").unlink()
    done = subprocess.run(
        [SPCTL, "-i", str(site / "inv.yaml"), "serve", "--init-secret"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "created" in done.stderr
    assert oct((site / "secret").stat().st_mode & 0o777) == "0o600"


def test_kubelet_header_is_the_node_token(site):
    header = manifest_url.kubelet_header(site / "secret", "n1")
    assert header == {"X-Spctl-Token": [token(site, "n1")]}
    # What --manifest-url-header=Name:value parses back to: split on ',' then the first ':'.
    flag = f"{manifest_url.TOKEN_HEADER}:{header[manifest_url.TOKEN_HEADER][0]}"
    name, _, value = flag.split(",")[0].partition(":")
    assert {name.strip(): [value.strip()]} == header


def test_document_the_kubelet_would_refuse_for_size_is_an_error():
    """Two pods, each well under the limit of a manifest file, over the limit of one body."""
    from spctl.desired.render import DesiredPod
    from spctl.errors import SpctlError

    def pod(name: str, size: int) -> DesiredPod:
        text = f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  annotations:\n"
        return DesiredPod(name, "t", text + f"    a: '{'x' * size}'\n")

    half = 6 * 1024 * 1024
    with pytest.raises(SpctlError, match="reads at most 10485759"):
        node_document("n1", "url", [pod("a", half), pod("b", half)])
    assert node_document("n1", "url", [pod("a", half)]).pods == ("a",)


def test_unexpected_reload_failure_keeps_serving(server, site, monkeypatch, caplog):
    def boom(_path):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr("spctl.serve.server.load_catalog", boom)
    with caplog.at_level(logging.ERROR, logger="spctl.serve.server"):
        assert not server.reload("SIGHUP")
    assert "unexpected OSError" in caplog.text
    assert kubelet(server, site, "n1").poll() is None


def test_serve_refuses_a_listen_address_without_host(site):
    done = subprocess.run(
        [SPCTL, "-i", str(site / "inv.yaml"), "serve", "--listen", "8080"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "must be ADDR:PORT" in done.stderr


def test_tls_serves_the_same_document_and_refuses_plain_http(site, tmp_path):
    import ssl

    cert, key = self_signed(tmp_path)
    srv = PodServer(site / "inv.yaml", "127.0.0.1:0", tls_cert=cert, tls_key=key)
    host, port = srv.start()
    try:
        plain = PodServer(site / "inv.yaml")
        expected = plain.catalog.documents["n1"].body
        context = ssl.create_default_context(cafile=str(cert))
        request = urllib.request.Request(
            f"https://{host}:{port}{manifest_url.node_path('n1')}",
            headers={manifest_url.TOKEN_HEADER: token(site, "n1")},
        )
        with urllib.request.urlopen(request, timeout=10, context=context) as response:  # noqa: S310
            assert response.status == 200 and response.read() == expected
        with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
            get(f"http://{host}:{port}/healthz")
        # The server still answers after a client that spoke plain HTTP.
        with urllib.request.urlopen(  # noqa: S310
            f"https://{host}:{port}/healthz", timeout=10, context=context
        ) as response:
            assert response.read() == b"ok\n"
        # A renewed certificate is picked up without a restart.
        self_signed(tmp_path)
        assert srv.check_for_changes()
        renewed = ssl.create_default_context(cafile=str(cert))
        with urllib.request.urlopen(  # noqa: S310
            f"https://{host}:{port}/healthz", timeout=10, context=renewed
        ) as response:
            assert response.read() == b"ok\n"
    finally:
        srv.stop()


def test_a_burst_of_signals_never_wedges_the_server(site):
    """Signals that arrive at any moment of the main loop (here: hundreds of SIGHUPs, then
    SIGTERM) are handled: the handlers take no lock, so none can wait on one the loop
    holds, and the server stops within its bound."""
    proc = subprocess.Popen(
        [SPCTL, "-i", str(site / "inv.yaml"), "serve", "--listen", "127.0.0.1:0", "--poll", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    try:
        line = ""
        deadline = time.monotonic() + 60
        while "listening on" not in line and time.monotonic() < deadline:
            line = proc.stderr.readline()
        reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
        reader.start()
        for i in range(400):
            proc.send_signal(signal.SIGHUP)
            time.sleep(0.0005 * (i % 7))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        reader.join(timeout=10)
        assert any("SIGTERM: shutting down" in x for x in lines)
        assert any("reloaded (SIGHUP)" in x for x in lines)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
