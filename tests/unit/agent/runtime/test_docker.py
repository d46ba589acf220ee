"""The Docker Engine as the kubelet's runtime through cri-dockerd (agent/runtime/docker.py):
Docker's records as cri-dockerd leaves them, read as pods; and exec probes on a Docker node:
the command's output read from the Engine's attached exec stream (moby's pkg/stdcopy frames),
as cri-dockerd's ExecSync reads it (core/exec.go), kept to the kubelet's 10 KiB
(pkg/probe/exec/exec.go); then against the host's real engine."""

from __future__ import annotations

import json
import os
import random
import struct
import threading
import time
import uuid
from pathlib import Path

import pytest
from spctl_agent.runtime import (
    DOCKER_SOCKET,
    docker,
)
from spctl_agent.runtime import pods as podlib
from spctl_agent.system import AgentError
from spctl_agent.system.http import Stream, TimedOut


def test_docker_exit_code_as_the_pattern():
    assert docker._exited("Up 5 minutes") is None
    assert docker._exited("Exited (137) 2 seconds ago").group(1) == "137"


DATA = Path(__file__).resolve().parent / "data"


# Docker Engine 20.10's GET /containers/json?all=1 on a node whose kubelet runs through
# cri-dockerd: static-web has two sandboxes (its first exited), and its running container
# carries the random suffix cri-dockerd appends on a name conflict (all digits, so that
# reading the last field as an attempt would count 40,960,231 restarts); crash-web's
# container exited with code 3 twice.
CONTAINERS = json.loads((DATA / "docker-20.10-cri-dockerd-containers.json").read_text())


WEB = ("default", "static-web-n1", "5b0e8a6f3c2d41e7a9b8c7d6e5f40312")


CRASH = ("kube-system", "crash-web-n1", "9d8c7b6a5f4e3d2c1b0a998877665544")


def inspect_state(exit_code, oom=False):
    """The State of GET /containers/{id}/json, as Docker 20.10 prints it."""
    return {
        "State": {
            "Status": "exited",
            "Running": False,
            "Paused": False,
            "Restarting": False,
            "OOMKilled": oom,
            "Dead": False,
            "Pid": 0,
            "ExitCode": exit_code,
            "Error": "",
            "StartedAt": "2023-11-14T22:20:20.123456789Z",
            "FinishedAt": "2023-11-14T22:20:20.223456789Z",
        }
    }


def test_the_newest_sandbox_wins_and_restarts_come_from_the_label():
    grouped = docker.group(CONTAINERS)
    web = grouped[WEB]
    assert [s["created"] for s in web["sandboxes"]] == [1700000300, 1700000000]
    assert web["sandbox"]["state"] == "running" and web["sandbox"]["attempt"] == 1
    assert web["containers"]["web"]["restarts"] == 1
    assert web["containers"]["web"]["state"] == "running"
    assert web["annotations"]["kubernetes.io/config.source"] == "file"
    assert web["labels"]["app"] == "static-web"
    summary = podlib.summarize(*WEB, web)
    assert (summary["phase"], summary["restarts"], summary["sandboxes"]) == ("Running", 1, 2)
    # The kubelet's lastState: the instance before the running one, killed with 137.
    (c,) = summary["containers"]
    assert (c["last_exit_code"], c["last_reason"]) == (137, "Error")


def test_grouping_does_not_depend_on_the_listing_order():
    shuffled = list(CONTAINERS)
    random.Random(7).shuffle(shuffled)
    assert docker.group(shuffled) == docker.group(CONTAINERS)


def test_an_exited_container_is_restarting_under_always_and_failed_under_never():
    # getPhase (pkg/kubelet/kubelet_pods.go): a crashed container of a restartPolicy Always
    # pod leaves it Running (not ready) while the kubelet restarts it; Never fails it.
    crash = docker.group(CONTAINERS)[CRASH]
    app = crash["containers"]["app"]
    assert (app["exit_code"], app["restarts"], app["created"]) == (3, 2, 1700000420)
    summary = podlib.summarize(*CRASH, crash, restart_policy="Always")
    assert (summary["phase"], summary["ready"], summary["restarts"]) == ("Running", False, 2)
    assert "exit code 3" in podlib.container_summary(summary)
    assert podlib.summarize(*CRASH, crash, restart_policy="Never")["phase"] == "Failed"


def test_the_exit_code_and_reason_come_from_the_containers_state():
    asked = []

    def inspect(container_id):
        asked.append(container_id)
        return inspect_state(137, oom=True)

    crash = docker.group(CONTAINERS, inspect)[CRASH]
    app = crash["containers"]["app"]
    assert (app["exit_code"], app["reason"]) == (137, "OOMKilled")
    assert app["finished"] == "2023-11-14T22:20:20.223456789Z"
    # Only the newest instance of a stopped container is inspected; running ones never.
    assert asked == ["c0ffee0123456789abcdef0123456789abcdef0123456789abcdef0123456789"]


@pytest.mark.parametrize(
    "name, attempt",
    [
        ("/k8s_web_static-web-n1_default_uid_3", 3),
        ("/k8s_web_static-web-n1_default_uid_3_0badf00d", 3),
        ("/k8s_web_static-web-n1_default_uid_3_12345678", 3),
        ("/not-kubernetes", 0),
    ],
)
def test_attempt_is_the_names_sixth_field_random_suffix_or_not(name, attempt):
    assert docker.attempt_of(name) == attempt


def summary(name="web-n1", namespace="default", source="file", phase="Running", created=1):
    annotations = {"kubernetes.io/config.source": source} if source else {}
    return {
        "pod": name,
        "namespace": namespace,
        "phase": phase,
        "created": created,
        "annotations": annotations,
    }


def frame(kind: int, payload: bytes) -> bytes:
    """One frame as moby's stdWriter writes it: type byte, three zeros, big-endian size."""
    return struct.pack(">BxxxL", kind, len(payload)) + payload


# The body of POST /exec/{id}/start for `sh -c 'echo out; echo err >&2; echo out2; exit 3'`
# as Docker 20.10.24 sent it on this host (Content-Type application/vnd.docker.raw-stream).
REAL_STREAM = b"\x02\x00\x00\x00\x00\x00\x00\x04err\n\x01\x00\x00\x00\x00\x00\x00\tout\nout2\n"


def test_frames_in_dockers_real_format_keep_both_streams_in_order() -> None:
    assert frame(2, b"err\n") + frame(1, b"out\nout2\n") == REAL_STREAM
    frames = docker.Frames()
    assert frames.feed(REAL_STREAM) is False
    assert bytes(frames.output) == b"err\nout\nout2\n"
    assert not frames.truncated


@pytest.mark.parametrize("step", [1, 3, 8, 9, 13])
def test_a_frame_split_across_reads(step: int) -> None:
    """Headers and payloads cut anywhere, down to one byte per read."""
    stream = frame(1, b"first\n") + frame(2, b"second\n") + frame(1, b"") + frame(1, b"third\n")
    frames = docker.Frames()
    for at in range(0, len(stream), step):
        frames.feed(stream[at : at + step])
    assert bytes(frames.output) == b"first\nsecond\nthird\n"
    assert not frames.truncated


def test_a_truncated_stream_keeps_what_came_and_says_so() -> None:
    frames = docker.Frames()
    frames.feed(frame(1, b"whole\n") + frame(2, b"cut short\n")[:12])
    assert bytes(frames.output) == b"whole\ncut "
    assert frames.truncated
    frames = docker.Frames()
    frames.feed(frame(1, b"whole\n") + b"\x01\x00\x00")  # within the next header
    assert bytes(frames.output) == b"whole\n"
    assert frames.truncated


def test_output_is_capped_at_the_kubelets_10_kib() -> None:
    assert docker.MAX_EXEC_OUTPUT == 10 * 1024
    frames = docker.Frames()
    chunk = frame(1, b"a" * 4096) + frame(2, b"b" * 4096)
    assert frames.feed(chunk) is False
    assert frames.feed(chunk) is True  # full: the reader stops here
    assert frames.full
    assert bytes(frames.output) == b"a" * 4096 + b"b" * 4096 + b"a" * 2048
    # Nothing more is kept, whatever comes.
    assert frames.feed(frame(1, b"c" * 100)) is True
    assert len(frames.output) == 10 * 1024


def test_an_unknown_header_and_the_daemons_error_frame_are_errors() -> None:
    with pytest.raises(AgentError, match="unrecognized stream header"):
        docker.Frames().feed(b"HTTP/1.1 200 OK\r\n")
    with pytest.raises(AgentError, match="docker exec: oci runtime error"):
        docker.Frames().feed(frame(3, b"oci runtime error"))


def serve_once(tmp_path, answer_parts, pause=0.0):
    """A unix socket server that answers one request with these parts, then closes."""
    import socket

    path = str(tmp_path / "engine.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(1)

    def run():
        conn, _ = server.accept()
        conn.recv(65536)
        try:
            for part in answer_parts:
                conn.sendall(part)
                time.sleep(pause)
        except OSError:
            pass  # the client closed first (its deadline)
        conn.close()
        server.close()

    threading.Thread(target=run, daemon=True).start()
    return path


def test_stream_reads_the_head_then_the_body_as_it_comes(tmp_path) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n"
    path = serve_once(tmp_path, [head + REAL_STREAM[:5], REAL_STREAM[5:]], pause=0.05)
    stream = Stream(path, "POST", "/exec/x/start", b"{}", 5.0)
    try:
        assert stream.status == 200
        assert b"vnd.docker.raw-stream" in stream.head
        body = b""
        while True:
            chunk = stream.read()
            if not chunk:
                break
            body += chunk
    finally:
        stream.close()
    assert body == REAL_STREAM


def test_stream_times_out_at_its_deadline(tmp_path) -> None:
    head = b"HTTP/1.1 200 OK\r\n\r\n"
    path = serve_once(tmp_path, [head, b""], pause=5.0)
    started = time.monotonic()
    stream = Stream(path, "POST", "/exec/x/start", b"{}", 0.5)
    try:
        with pytest.raises(TimedOut):
            while stream.read():
                pass
    finally:
        stream.close()
    assert time.monotonic() - started < 2.0


@pytest.fixture(scope="module")
def container():
    """A short-lived container of the lab's pod image (busybox), removed at the end."""
    import docker as docker_sdk

    from lab.images import POD_CHANGES, POD_IMAGE, ImageBuilder

    client = docker_sdk.from_env(timeout=120)
    try:
        client.images.get(POD_IMAGE)
    except docker_sdk.errors.ImageNotFound:
        ImageBuilder(client, lambda _message: None)._ensure_image(POD_IMAGE, POD_CHANGES, "pod")
    lab = os.environ.get("SPCTL_LAB_NAME") or "spctl"
    name = f"{lab}-probe-test-{uuid.uuid4().hex[:8]}"
    created = client.containers.run(POD_IMAGE, ["sleep", "300"], name=name, detach=True)
    try:
        yield created.id
    finally:
        created.remove(force=True)


def test_real_engine_gives_stdout_stderr_and_the_exit_code(container) -> None:
    command = ["sh", "-c", "echo to-stdout; echo to-stderr >&2; echo more-stdout; exit 3"]
    code, output = docker.exec_run(DOCKER_SOCKET, container, command, 10.0)
    assert code == 3
    text = output.decode()
    assert sorted(text.splitlines()) == ["more-stdout", "to-stderr", "to-stdout"], text
    # Each stream's own lines stay in their order.
    assert text.index("to-stdout") < text.index("more-stdout"), text


def test_real_engine_success_and_output_beyond_the_cap(container) -> None:
    assert docker.exec_run(DOCKER_SOCKET, container, ["cat", "/www/index.html"], 10.0) == (
        0,
        b"<h1>spctl lab pod</h1>\n",
    )
    # 64 KiB of output, then the command goes on for a while and exits 5: only 10 KiB are
    # kept, and the exit code is still the command's own (a connection closed while output
    # still flows makes Docker report 126, "exec attach failed").
    line = "0123456789abcdef" * 4  # 64 bytes with its newline
    script = "i=0; while [ $i -lt 1024 ]; do echo %s; i=$((i+1)); done; sleep 1; exit 5"
    command = ["sh", "-c", script % line[:-1]]
    started = time.monotonic()
    code, output = docker.exec_run(DOCKER_SOCKET, container, command, 10.0)
    assert code == 5
    assert len(output) == 10 * 1024 and output.startswith(b"0123456789abcdef"), len(output)
    assert 1.0 <= time.monotonic() - started < 5.0


def test_real_engine_command_past_the_timeout_gives_none(container) -> None:
    started = time.monotonic()
    code, output = docker.exec_run(
        DOCKER_SOCKET, container, ["sh", "-c", "echo started; sleep 30"], 1.0
    )
    took = time.monotonic() - started
    assert code is None
    assert output == b"started\n"
    assert 0.9 <= took < 3.0, took


def test_real_engine_missing_command_is_an_error_or_a_failure(container) -> None:
    """Docker starts the exec and reports the runtime's refusal: exit code 126 or 127 with
    the runtime's message as output (as `docker exec` shows it), never a hang."""
    code, output = docker.exec_run(DOCKER_SOCKET, container, ["/no/such/command"], 10.0)
    assert code in (126, 127), (code, output)
    assert b"no such file" in output.lower(), output


def test_real_engine_endless_output_keeps_10_kib_and_ends_at_the_timeout(container) -> None:
    started = time.monotonic()
    code, output = docker.exec_run(
        DOCKER_SOCKET, container, ["sh", "-c", "while :; do echo endless; done"], 1.0
    )
    took = time.monotonic() - started
    assert code is None
    assert len(output) == 10 * 1024 and output.startswith(b"endless\nendless\n"), len(output)
    assert 0.9 <= took < 3.0, took


def test_an_engine_that_never_answers_the_start_gives_none_at_the_timeout(tmp_path) -> None:
    """The exec is created; its start's answer never comes: (None, b"") at the timeout."""
    import socket

    path = str(tmp_path / "engine.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(2)
    held = []

    def run():
        conn, _ = server.accept()
        conn.recv(65536)
        conn.sendall(b'HTTP/1.1 201 Created\r\n\r\n{"Id": "e1"}')
        conn.close()
        conn, _ = server.accept()
        held.append(conn)  # the start: read, never answered

    threading.Thread(target=run, daemon=True).start()
    started = time.monotonic()
    assert docker.exec_run(path, "c1", ["true"], 0.5) == (None, b"")
    assert time.monotonic() - started < 2.0
    for conn in held:
        conn.close()
    server.close()
