"""A crashed container's last lines (agent/runtime/container_logs.py), read from log text in
the formats the runtimes write: the CRI log format containerd and CRI-O write to
/var/log/pods/... (parsed as pkg/kubelet/kuberuntime/logs/logs.go parseCRILog does), Docker's
JSON log lines (parseDockerJSONLog), and the Docker Engine's multiplexed logs stream (moby
pkg/stdcopy)."""

from __future__ import annotations

from spctl_agent.runtime import Runtime, Source, container_logs

# As containerd's CRI plugin writes them (pkg/cri/io/logger.go: timestamp in RFC3339Nano,
# the stream, the tag P for a partial line or F for the full/last part, the text). A line
# longer than max_container_log_line_size (16 KiB) is split into P parts.
CRI_LOG = (
    b"2026-12-07T18:01:02.123456789Z stdout F starting web\n"
    b"2026-12-07T18:01:02.223456789Z stderr P config: cannot open \n"
    b"2026-12-07T18:01:02.223456790Z stderr F /etc/web.conf: no such file\n"
    b"2026-12-07T18:01:02.323456789Z stderr F \n"
    b"2026-12-07T18:01:02.423456789Z stdout F exiting with code 1\n"
)


def test_cri_lines_join_partial_lines_as_the_kubelet_reads_them():
    assert container_logs.cri_lines(CRI_LOG) == [
        "starting web",
        "config: cannot open /etc/web.conf: no such file",
        "",
        "exiting with code 1",
    ]


def test_cri_lines_skip_what_does_not_parse_and_keep_a_cut_last_line():
    data = b"garbage line\n2026-12-07T18:01:02.1Z stdout P half a li"
    assert container_logs.cri_lines(data) == ["half a li"]


def test_docker_json_log_lines_are_read_too():
    data = (
        b'{"log":"first\\n","stream":"stdout","time":"2026-12-07T18:01:02.57606443Z"}\n'
        b'{"log":"sec","stream":"stderr","time":"2026-12-07T18:01:02.57606444Z"}\n'
        b'{"log":"ond\\n","stream":"stderr","time":"2026-12-07T18:01:02.57606445Z"}\n'
    )
    assert container_logs.cri_lines(data) == ["first", "second"]


def test_bounds_keep_the_last_lines_and_say_so():
    lines = [f"line {i}" for i in range(30)]
    kept, cut = container_logs.bounded(lines)
    assert kept == lines[-20:] and cut
    assert container_logs.bounded(["a", "b"]) == (["a", "b"], False)
    kept, cut = container_logs.bounded(["x" * 5000, "y" * 10], max_bytes=100)
    assert kept == ["x" * 89 + "...", "y" * 10] and cut
    assert sum(len(line) for line in container_logs.bounded(["z" * 3000] * 20)[0]) <= 4096 + 3


def test_a_log_file_is_read_from_its_end(tmp_path):
    path = tmp_path / "0.log"
    path.write_bytes(b"2026-12-07T18:01:02.1Z stdout F old\n" * 5000 + CRI_LOG)
    lines = container_logs.cri_output(str(path))
    assert lines[-1] == "exiting with code 1" and lines[0] == "old"
    assert len(path.read_bytes()) > container_logs.READ_BYTES
    assert container_logs.cri_output(str(tmp_path / "gone.log")) is None
    assert container_logs.cri_output(None) is None


def test_a_fifo_or_a_link_in_place_of_the_log_file_is_not_read(tmp_path):
    """Whatever else can write under /var/log/pods could put a FIFO there (opening it would
    hang the agent inside the transaction) or a link to another file (read as root)."""
    import os

    fifo = tmp_path / "1.log"
    os.mkfifo(fifo)
    assert container_logs.cri_output(str(fifo)) is None
    other = tmp_path / "other.log"
    other.write_bytes(CRI_LOG)
    link = tmp_path / "2.log"
    link.symlink_to(other)
    assert container_logs.cri_output(str(link)) is None
    assert container_logs.cri_output(str(other))[-1] == "exiting with code 1"


def frame(stream: int, payload: bytes) -> bytes:
    """One frame of moby's multiplexed stream: type, three zero bytes, big-endian size."""
    return bytes([stream, 0, 0, 0]) + len(payload).to_bytes(4, "big") + payload


def test_docker_logs_stream_is_demultiplexed():
    stream = (
        frame(1, b"starting web\n") + frame(2, b"config: no such file\nexit") + frame(2, b"ing\n")
    )
    assert container_logs.docker_lines(stream) == [
        "starting web",
        "config: no such file",
        "exiting",
    ]


def test_the_runtime_that_listed_the_pod_reads_its_output(tmp_path):
    log = tmp_path / "web" / "0.log"
    log.parent.mkdir()
    log.write_bytes(CRI_LOG)
    source = Source("cri", "unix:///run/containerd/containerd.sock", "/x", lambda _p: {})
    runtime = Runtime([source])
    assert runtime.container_output({"id": "c1", "log_path": str(log)}) is None  # nothing read
    runtime.answered = source
    lines, cut = runtime.container_output({"id": "c1", "log_path": str(log)})
    assert lines[-1] == "exiting with code 1" and not cut
