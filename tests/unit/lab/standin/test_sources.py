"""The kubelet's static pod sources (standin/sources.py). The manifest path: which files
count, the 10 MiB limit, duplicates, a broken file on a re-list and after an event. The
manifest URL follows the kubelet's http.go as the test model does
(tests/fakes/kubelet_http_source.py): both poll one small HTTP server through the same
sequence of answers, and after each poll they hold the same pods."""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from spctl_lab.standin.sources import (
    IN_CREATE,
    IN_DELETE,
    IN_MODIFY,
    IN_MOVED_TO,
    FileSource,
    URLSource,
)

from tests.fakes.kubelet_http_source import MAX_CONFIG_LENGTH, KubeletHTTPSource
from tests.fakes.standin import NODE, SEED, listed, seed, write


def test_which_files_count(tmp_path, capsys) -> None:
    files = {
        "web.yaml": "a",
        "web.yaml.bak": "b",
        "web.yaml~": "c",
        "4913": "d",
        "web.json": "e",
        ".web.yaml.swp": "f",
    }
    for name, pod_name in files.items():
        pod = seed()
        pod["metadata"]["name"] = pod_name  # distinct pods: no duplicate rule involved
        write(tmp_path, name, pod if name != "web.json" else json.dumps(pod))
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "nested.yaml", seed())
    pods = listed(tmp_path)
    assert sorted(pods.values()) == ["4913", "web.json", "web.yaml", "web.yaml.bak", "web.yaml~"]
    assert "not recursing into manifest path" in capsys.readouterr().err


def test_file_over_10_mib_is_refused(tmp_path, capsys) -> None:
    big = yaml.safe_dump(seed()) + "#" * (10 << 20) + "\n"
    write(tmp_path, "big.yaml", big)
    assert listed(tmp_path) == {}
    err = capsys.readouterr().err
    assert '"Could not process manifest file"' in err and "larger than 10 MiB" in err


def test_missing_directory_gives_no_pods_and_is_logged(tmp_path, capsys) -> None:
    source = FileSource(str(tmp_path / "kubelet.d"), NODE)
    assert source.relist() == []
    assert "path does not exist, ignoring" in capsys.readouterr().err
    (tmp_path / "kubelet.d").mkdir()
    write(tmp_path / "kubelet.d", "static-web.yaml", seed())
    assert [pod.name for pod in source.relist()] == [f"static-web-{NODE}"]


def test_a_path_to_one_file_is_that_pod(tmp_path) -> None:
    path = write(tmp_path, "only.yaml", seed())
    assert [pod.origin for pod in FileSource(str(path), NODE).relist()] == [str(path)]


def test_duplicates_last_in_file_order_wins_silently_as_the_file_source_store_does(
    tmp_path, capsys
) -> None:
    write(tmp_path, "static-web.yaml", seed())
    stale = seed()
    stale["metadata"]["labels"] = {"role": "stale"}
    write(tmp_path, "static-web.bak.yaml", stale)  # sorts before static-web.yaml: loses
    stray = seed()
    stray["metadata"]["labels"] = {"role": "stray"}
    write(tmp_path, "static-web.yaml~", stray)  # sorts after it: wins
    pods = FileSource(str(tmp_path), NODE).relist()
    assert [Path(pod.origin).name for pod in pods] == ["static-web.yaml~"]
    assert pods[0].manifest["metadata"]["labels"] == {"role": "stray"}
    assert "duplicate pod name" not in capsys.readouterr().err


def test_other_namespace_is_not_a_duplicate(tmp_path) -> None:
    write(tmp_path, "a.yaml", seed())
    other = seed()
    other["metadata"]["namespace"] = "kube-system"
    write(tmp_path, "b.yaml", other)
    pods = FileSource(str(tmp_path), NODE).relist()
    assert sorted(pod.full_name for pod in pods) == [
        f"default/static-web-{NODE}",
        f"kube-system/static-web-{NODE}",
    ]


def test_unparseable_file_drops_its_pod_on_relist_but_not_on_an_inotify_event(
    tmp_path, capsys
) -> None:
    path = write(tmp_path, "static-web.yaml", seed())
    source = FileSource(str(tmp_path), NODE)
    uid = source.relist()[0].uid
    path.write_text("apiVersion: v1\nkind: Po")  # caught half-written
    assert [pod.uid for pod in source.consume([("static-web.yaml", IN_MODIFY)])] == [uid]
    # file_linux.go consumeWatchEvent's error, logged by file.go run(): no path key.
    err = capsys.readouterr().err
    assert '"Unable to process watch event" err="can\'t process config file \\"' in err
    assert "Could not process manifest file" not in err
    assert source.relist() == []  # the periodic re-list kills it
    err = capsys.readouterr().err
    assert '"Could not process manifest file" err=' in err and f'path="{path}"' in err


def test_watch_events_one_file_each(tmp_path, capsys) -> None:
    from spctl_agent.system import kubelet_log

    source = FileSource(str(tmp_path), NODE)
    assert source.relist() == []
    write(tmp_path, "static-web.yaml", seed())
    other = seed()
    other["metadata"]["name"] = "other"
    write(tmp_path, "other.yaml", other)
    # spctl's rename into place: IN_MOVED_TO, which fsnotify calls Create.
    assert [p.name for p in source.consume([("static-web.yaml", IN_MOVED_TO)])] == [
        f"static-web-{NODE}"
    ]
    bad = write(tmp_path, "bad.yaml", "kind: Pod\napiVersion: v1\nmetadata: {}\n")
    source.consume([("bad.yaml", IN_CREATE), ("gone.yaml", IN_CREATE)])
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2  # once per event
    assert kubelet_log.failure(lines, str(bad), "bad").startswith(f"the kubelet rejected {bad}: ")
    gone = str(tmp_path / "gone.yaml")
    assert "no such file or directory" in kubelet_log.failure(lines, gone, "x")
    assert source.consume([("static-web.yaml", IN_DELETE)]) == []


def _podlist(*names: str) -> bytes:
    items = [{**SEED, "metadata": {**SEED["metadata"], "name": n}} for n in names]
    return json.dumps({"apiVersion": "v1", "kind": "PodList", "items": items}).encode()


class _Server:
    def __init__(self) -> None:
        self.status, self.body = 200, b""
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                if self.headers.get("X-Spctl-Token") != "t":
                    self.send_response(403)
                    self.end_headers()
                    return
                self.send_response(outer.status)
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/nodes/{NODE}/pods.json"


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.httpd.shutdown()


def _names(standin: Any) -> set[str]:
    return {p.name for p in standin.pods}


# (status, body) answered in turn; the pods both sources hold after each poll
STEPS = [
    (200, _podlist("a"), {"a"}),
    (500, _podlist("b"), {"a"}),  # an error keeps the pods
    (200, b"", set()),  # an empty body removes every pod
    (200, _podlist("a"), set()),  # the last body again: skipped, the pods stay away
    (200, _podlist("a", "b"), {"a", "b"}),
    (200, b"x" * MAX_CONFIG_LENGTH, {"a", "b"}),  # exactly the limit is already an error
    (200, b'{"apiVersion": "v1", "kind": "List", "items": []}', {"a", "b"}),  # not a PodList
]


def test_the_standin_url_source_matches_the_kubelet_model(server):
    model = KubeletHTTPSource(server.url, {"X-Spctl-Token": "t"}, NODE)
    standin = URLSource(server.url, {"X-Spctl-Token": ["t"]}, NODE, 20.0)
    for status, body, want in STEPS:
        server.status, server.body = status, body
        model.poll()
        standin.fetch_once()
        suffix = "-" + NODE
        assert {n[: -len(suffix)] for n in (model.pods or {})} == want, (status, body[:40])
        assert {n[: -len(suffix)] for n in _names(standin)} == want, (status, body[:40])


def test_a_wrong_token_keeps_the_standin_pods(server):
    server.body = _podlist("a")
    standin = URLSource(server.url, {"X-Spctl-Token": ["t"]}, NODE, 20.0)
    standin.fetch_once()
    wrong = URLSource(server.url, {"X-Spctl-Token": ["nope"]}, NODE, 20.0)
    wrong.fetch_once()
    assert [p.name for p in standin.pods] == [f"a-{NODE}"]
    assert wrong.pods == [] and not wrong.listed


def test_the_url_source_logs_as_http_go(server, capsys):
    """http.go run(): a failure at info level, the first three in a row; a refused body is
    read once, and the next good read (the same body again included) says so."""
    from spctl_agent.system import kubelet_log

    standin = URLSource(server.url, {"X-Spctl-Token": ["t"]}, NODE, 20.0)
    server.body = json.dumps({**SEED, "spec": {"containers": [{"name": "web"}]}}).encode()
    standin.fetch_once()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("I")
    assert '"Failed to read pods from URL" err=' in lines[0]
    refused = kubelet_log.failure(lines, None, "x", url=True)
    assert refused.startswith("the kubelet rejected the pods of its manifest URL: ")
    standin.fetch_once()  # the same body: skipped, a good read
    lines = capsys.readouterr().err.splitlines()
    assert lines == [lines[0]] and '"Successfully read pods from URL"' in lines[0]
    server.status = 404
    for _ in range(5):
        standin.fetch_once()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 4 and "Dropping verbosity of this message to V(4)" in lines[3]
    assert f"{server.url}: 404 Not Found" in lines[0]
    assert kubelet_log.failure(lines, None, "x", url=True) is None  # the fetch's, not the body's


def test_a_watch_event_for_a_fifo_or_a_directory_never_blocks(tmp_path, capsys) -> None:
    """A FIFO's open would block until a writer comes (the kubelet's would): skipped."""
    source = FileSource(str(tmp_path), NODE)
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "sub").mkdir()
    assert source.consume([("pipe", IN_CREATE), ("sub", IN_CREATE)]) == []
    err = capsys.readouterr().err
    assert "pipe" not in err and f"read {tmp_path}/sub: is a directory" in err
