"""Reading the kubelet's journal (agent/system/kubelet_log.py): klog's multi-line values, which
process wrote an entry, and reading on from the last poll.

Most journal entries below are in ``journalctl -o json``'s format (one JSON object a line;
journalctl(1) "json", systemd.journal-fields(7)), written by hand from that documentation and
the field set systemd 252 gives a service's stdout/stderr line (the test hosts run no
journald to record from); the last test runs the real journalctl on a journal file that
systemd-journal-remote writes.
"""

from __future__ import annotations

import json

from spctl_agent.system import kubelet_log
from spctl_agent.transaction.manifest_change import PodChange
from spctl_agent.transaction.wait import wait_for

from tests.fakes.agent_node import FakeClock, FakeRuntime, make_node, pod

# pkg/kubelet/config/file.go extractFromDir: klog.ErrorS(err, "Could not process manifest file",
# "path", path); pkg/kubelet/pod_workers.go: klog.ErrorS(err, "Error syncing pod, skipping",
# "pod", klog.KObj(pod), "podUID", pod.UID), the error from kuberuntime's SyncResult
# (pkg/kubelet/container/sync_result.go) with the reasons of pkg/kubelet/images/types.go.
REJECTED_LINE = (
    'E1128 09:12:01.123456    4242 file.go:227] "Could not process manifest file" err="invalid pod:'
    ' [spec.containers[0].name: Invalid value: \\"Web\\": a lowercase RFC 1123 label]"'
    ' path="/etc/kubernetes/manifests/web.yaml"'
)


PULL = (
    'E1128 09:12:03.000001    4242 pod_workers.go:1301] "Error syncing pod, skipping" err="failed'
    ' to \\"StartContainer\\" for \\"web\\" with ErrImagePull: \\"failed to pull and unpack image'
    ' \\\\\\"docker.io/library/nope:1\\\\\\": not found\\"" pod="default/web-node1"'
    ' podUID="0a1b2c"'
)


BACKOFF = (
    'E1128 09:12:15.000001    4242 pod_workers.go:1301] "Error syncing pod, skipping" err="failed'
    ' to \\"StartContainer\\" for \\"web\\" with ImagePullBackOff: \\"Back-off pulling image'
    ' \\\\\\"nope:1\\\\\\"\\"" pod="default/web-node1" podUID="0a1b2c"'
)


NOISE = 'I1128 09:12:00.500000    4242 kubelet.go:2410] "SyncLoop ADD" source="file" pods=["default/web-node1"]'


# kubelet.go SyncPod returns fmt.Errorf("%s: %v", NetworkNotReadyErrorMsg, err) with the error
# updateRuntimeUp keeps ("container runtime network not ready: %v" of the NetworkReady
# condition, RuntimeCondition.String), here containerd's words without a CNI config
# (pkg/cri/server/status.go); pod_workers.go logs it.
NETWORK = (
    'E1207 18:40:01.000001    4242 pod_workers.go:1301] "Error syncing pod, skipping"'
    ' err="network is not ready: container runtime network not ready: NetworkReady=false'
    " reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not"
    ' initialized" pod="default/web-node1" podUID="0a1b2c"'
)


def test_failure_network_not_ready() -> None:
    reason = kubelet_log.failure([NOISE, NETWORK], "/m/web.yaml", "web-node1", "default")
    assert reason == (
        "the kubelet cannot start default/web-node1: network is not ready: container runtime"
        " network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network"
        " plugin returns error: cni plugin not initialized"
    )
    assert kubelet_log.failure([NETWORK], "/m/web.yaml", "web-node2") is None
    assert kubelet_log.failure([NETWORK], "/m/web.yaml", "web-node1", not_uid="0a1b2c") is None


def test_parse_line() -> None:
    where, message, fields = kubelet_log.parse_line(REJECTED_LINE)
    assert where == "file.go:227" and message == "Could not process manifest file"
    assert fields["path"] == "/etc/kubernetes/manifests/web.yaml"
    assert fields["err"].startswith('invalid pod: [spec.containers[0].name: Invalid value: "Web"')
    where, message, fields = kubelet_log.parse_line(PULL)
    assert fields["pod"] == "default/web-node1" and fields["podUID"] == "0a1b2c"
    assert 'with ErrImagePull: "failed to pull and unpack image \\"docker.io' in fields["err"]
    assert kubelet_log.parse_line("-- No entries --") is None


def test_failure_file_rejected() -> None:
    lines = [NOISE, REJECTED_LINE]
    reason = kubelet_log.failure(lines, "/etc/kubernetes/manifests/web.yaml", "web-node1")
    assert reason.startswith("the kubelet rejected /etc/kubernetes/manifests/web.yaml: invalid pod")
    assert kubelet_log.failure(lines, "/etc/kubernetes/manifests/other.yaml", "other-node1") is None


def test_failure_image_pull() -> None:
    reason = kubelet_log.failure([NOISE, PULL, BACKOFF], "/m/web.yaml", "web-node1", "default")
    # The back-off repeats the pull's failure: the failure says why.
    assert reason == (
        'the kubelet cannot start default/web-node1: failed to "StartContainer" for "web" with'
        ' ErrImagePull: "failed to pull and unpack image \\"docker.io/library/nope:1\\":'
        ' not found"'
    )
    only_backoff = kubelet_log.failure([BACKOFF], "/m/web.yaml", "web-node1")
    assert only_backoff.endswith('with ImagePullBackOff: "Back-off pulling image \\"nope:1\\""')
    # Another namespace, another pod, or the pod being replaced: not this change's failure.
    assert kubelet_log.failure([PULL], "/m/web.yaml", "web-node1", "kube-system") is None
    assert kubelet_log.failure([PULL], "/m/web.yaml", "web-node2") is None
    assert kubelet_log.failure([PULL], "/m/web.yaml", "web-node1", not_uid="0a1b2c") is None


WEB = "/etc/kubernetes/manifests/web.yaml"


KUBELET_PID = "4242"


# pkg/kubelet/config/file.go extractFromDir: klog.ErrorS(err, "Could not process manifest
# file", "path", path); klog writes the error first (printS), every string quoted.
REJECTED = (
    'E1128 09:12:01.123456    4242 file.go:227] "Could not process manifest file" err="invalid pod:'
    ' [spec.containers[0].name: Invalid value: \\"Web\\": a lowercase RFC 1123 label]"'
    ' path="/etc/kubernetes/manifests/web.yaml"'
)


# pkg/kubelet/prober/prober.go: klog.V(1).InfoS("Probe failed", ..., "output", output); an
# output with line breaks is written as klog's multi-line value (internal/serialize/
# keyvalues.go writeStringValue): `output=<`, each line after a tab, then " >". The pod
# wrote a line that looks like the kubelet's.
SPOOF = (
    'E1128 09:12:05.000002    4242 file.go:227] "Could not process manifest file"'
    ' err="pwned" path="/etc/kubernetes/manifests/web.yaml"'
)


PROBE_FAILED = [
    'I1128 09:12:05.000001    4242 prober.go:107] "Probe failed" probeType="Liveness"'
    ' pod="default/web-node1" podUID="0a1b2c" containerName="web" probeResult="failure"'
    " output=<",
    "\tchecking...",
    "\t" + SPOOF,
    " >",
]


# A multi-line error (an aggregate of several lines) in the middle of an entry: the fields
# after it go on after " >" on the same line.
REJECTED_MULTILINE = [
    'E1128 09:12:06.000001    4242 file.go:227] "Could not process manifest file" err=<',
    "\terror converting YAML to JSON: yaml: line 3:",
    "\tmapping values are not allowed in this context",
    ' > path="/etc/kubernetes/manifests/web.yaml"',
]


def test_continuation_lines_are_never_entries() -> None:
    # The pod's line inside output=<...> is not the kubelet's, indented or not.
    assert kubelet_log.failure(PROBE_FAILED, WEB, "web-node1") is None
    assert kubelet_log.parse_line("\t" + SPOOF) is None  # no stripping: klog starts in column 0
    assert kubelet_log.parse_line(" " + SPOOF) is None
    entries = []
    lines = kubelet_log.KlogLines()
    for line in PROBE_FAILED:
        entries += lines.feed(line)
    [(where, message, fields)] = entries
    assert (where, message) == ("prober.go:107", "Probe failed")
    assert fields["output"] == "checking...\n" + SPOOF  # the whole value, the pod's line in it
    assert fields["pod"] == "default/web-node1"


def test_real_lines_around_a_block_are_found() -> None:
    lines = PROBE_FAILED + [REJECTED]
    assert kubelet_log.failure(lines, WEB, "web-node1").startswith(
        f"the kubelet rejected {WEB}: invalid pod: [spec.containers[0].name"
    )
    reason = kubelet_log.failure(REJECTED_MULTILINE, WEB, "web-node1")
    assert reason == (
        f"the kubelet rejected {WEB}: error converting YAML to JSON: yaml: line 3:\n"
        "mapping values are not allowed in this context"
    )


def test_a_block_that_never_closes_does_not_count() -> None:
    # The kubelet died mid-entry: the entry is incomplete, the next header is read again.
    lines = REJECTED_MULTILINE[:2] + [REJECTED]
    assert "invalid pod" in kubelet_log.failure(lines, WEB, "web-node1")
    assert kubelet_log.failure(REJECTED_MULTILINE[:3], WEB, "web-node1") is None


def test_header_of_another_pid_is_not_this_process() -> None:
    lines = kubelet_log.KlogLines("999")
    assert lines.feed(REJECTED) == []
    assert len(kubelet_log.KlogLines(KUBELET_PID).feed(REJECTED)) == 1


def test_a_json_line_after_the_kubelets_text_is_not_the_kubelets() -> None:
    """A process that wrote a klog header logs in text: a JSON-looking line that reaches
    column 0 later (a pod's text after a journald cut) is not the kubelet's entry."""
    forged = (
        '{"ts":1,"caller":"x","msg":"Could not process manifest file",'
        '"path":"/etc/kubernetes/manifests/kube-apiserver.yaml","err":"forged"}'
    )
    lines = kubelet_log.KlogLines(KUBELET_PID)
    assert len(lines.feed(REJECTED)) == 1
    assert lines.feed(forged) == []
    # A kubelet that logs in JSON from the start is read as such.
    assert len(kubelet_log.KlogLines(KUBELET_PID).feed(forged)) == 1


def test_a_value_is_kept_to_a_bound() -> None:
    """http.go quotes a body it cannot decode whole in its error (up to 10 MiB): a value
    keeps MAX_VALUE characters, in a block as in one line, in text as in JSON."""
    lines = kubelet_log.KlogLines(KUBELET_PID)
    head = 'I1207 10:00:05.000001    4242 http.go:82] "Failed to read pods from URL" err=<'
    assert lines.feed(head) == []
    for _ in range(10000):
        assert lines.feed("\t" + "A" * 1000) == []
    ((_, _, fields),) = lines.feed(" >")
    assert len(fields["err"]) == kubelet_log.MAX_VALUE + 1 and fields["err"].endswith("\u2026")
    one_line = head[:-1] + '"' + "B" * 100000 + '"'
    ((_, _, fields),) = kubelet_log.KlogLines(KUBELET_PID).feed(one_line)
    assert len(fields["err"]) == kubelet_log.MAX_VALUE + 1
    as_json = '{"ts":1,"caller":"http.go:82","msg":"Failed to read pods from URL","err":"%s"}'
    ((_, _, fields),) = kubelet_log.KlogLines().feed(as_json % ("C" * 100000))
    assert len(fields["err"]) == kubelet_log.MAX_VALUE + 1


def record(message, n, pid=KUBELET_PID, unit="kubelet.service", transport="stdout", **extra):
    """One entry as journalctl -o json prints it for a service's stderr line."""
    entry = {
        "__CURSOR": f"s=7b1c2e5d9a0f4e3b8c6d1a2b3c4d5e6f;i={0x4E00 + n:x};"
        f"b=0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a;m={0x1A2B3C + n:x};t=6449c2f3{n:06x};"
        f"x={0xAB12 + n:016x}",
        "__REALTIME_TIMESTAMP": str(1764321121000000 + n),
        "__MONOTONIC_TIMESTAMP": str(1715004 + n),
        "_BOOT_ID": "0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a",
        "PRIORITY": "6",
        "SYSLOG_FACILITY": "3",
        "_UID": "0",
        "_GID": "0",
        "_CAP_EFFECTIVE": "1ffffffffff",
        "_SELINUX_CONTEXT": "unconfined\n",
        "_MACHINE_ID": "5e3b4c2d1a0f9e8d7c6b5a4f3e2d1c0b",
        "_HOSTNAME": "node1",
        "_TRANSPORT": transport,
        "_STREAM_ID": "9f8e7d6c5b4a39281706f5e4d3c2b1a0",
        "SYSLOG_IDENTIFIER": "kubelet",
        "_PID": pid,
        "_COMM": "kubelet",
        "_EXE": "/usr/bin/kubelet",
        "_CMDLINE": "/usr/bin/kubelet --config=/var/lib/kubelet/config.yaml",
        "_SYSTEMD_CGROUP": f"/system.slice/{unit}",
        "_SYSTEMD_UNIT": unit,
        "_SYSTEMD_SLICE": "system.slice",
        "_SYSTEMD_INVOCATION_ID": "3c2b1a09f8e7d6c5b4a3928170f6e5d4",
        "MESSAGE": message,
    }
    entry.update(extra)
    return entry


def output(entries, cut=False):
    text = b"".join(json.dumps(e).encode() + b"\n" for e in entries)
    return text[:-7] if cut else text


class FakeJournalctl:
    """journalctl: each call answers with the next of ``answers`` ((stdout, problem) or an
    exception); records the arguments of every call."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def __call__(self, args):
        self.calls.append(args)
        answer = self.answers.pop(0) if self.answers else (b"", None)
        if isinstance(answer, Exception):
            raise answer
        return answer


def watch(journalctl, pids=None):
    journal = kubelet_log.Journal(["kubelet", "k3s"], 1700000000.7, run=journalctl)
    return kubelet_log.KubeletLog(journal, lambda: pids or {"kubelet": KUBELET_PID, "k3s": "0"})


def test_journal_arguments_and_cursor() -> None:
    first = [record(PROBE_FAILED[0], 1), record(PROBE_FAILED[1], 2)]
    second = [record(line, 3 + i) for i, line in enumerate(PROBE_FAILED[2:] + [REJECTED])]
    journalctl = FakeJournalctl((output(first), None), (output(second), None))
    log = watch(journalctl)
    assert log.poll() == 0  # the probe's entry is still open
    assert log.failure(WEB, "web-node1") is None
    assert journalctl.calls[0] == [
        "journalctl", "--no-pager", "-q", "--all", "-o", "json",
        "--since", "@1700000000", "-u", "kubelet", "-u", "k3s",
    ]  # fmt: skip
    assert log.poll() == 2  # the block went on across the two reads
    assert journalctl.calls[1][6:8] == ["--after-cursor", first[-1]["__CURSOR"]]
    assert "--since" not in journalctl.calls[1]
    assert "invalid pod" in log.failure(WEB, "web-node1")
    # Nothing new: the cursor stays, what was found stays.
    assert log.poll() == 0
    assert journalctl.calls[2][6:8] == ["--after-cursor", second[-1]["__CURSOR"]]
    assert "invalid pod" in log.failure(WEB, "web-node1")


def test_spoofed_line_in_the_journal_is_ignored() -> None:
    entries = [record(line, i) for i, line in enumerate(PROBE_FAILED)]
    log = watch(FakeJournalctl((output(entries), None)))
    assert log.poll() == 1
    assert log.failure(WEB, "web-node1") is None


def test_only_the_main_process_stdout_counts() -> None:
    entries = [
        record(REJECTED, 1, pid="4300"),  # a helper process in the unit
        record(REJECTED, 2, transport="journal"),  # sd_journal_send with the kubelet's pid
        record(REJECTED, 3, unit="other.service"),  # another unit's main pid 4242? not ours
        record(REJECTED, 4, pid="0"),
    ]
    log = watch(FakeJournalctl((output(entries), None)))
    assert log.poll() == 0
    assert log.failure(WEB, "web-node1") is None
    # The same line from the kubelet itself counts; k3s's main pid counts for k3s.
    log = watch(
        FakeJournalctl((output([record(REJECTED, 5, pid="4242", unit="k3s.service")]), None)),
        {"kubelet": "0", "k3s": "4242"},
    )
    assert log.poll() == 1 and "invalid pod" in log.failure(WEB, "web-node1")


def test_kubelet_restarted_between_polls() -> None:
    pids = {"kubelet": "4242"}
    journalctl = FakeJournalctl(
        (output([record(PROBE_FAILED[0], 1)]), None),
        (output([record(REJECTED.replace("4242", "5151", 1), 2, pid="5151")]), None),
    )
    log = kubelet_log.KubeletLog(
        kubelet_log.Journal(["kubelet"], 0, run=journalctl), lambda: dict(pids)
    )
    log.poll()
    pids["kubelet"] = "5151"  # read after the journal: the new kubelet's entries count
    assert log.poll() == 1
    assert "invalid pod" in log.failure(WEB, "web-node1")


def test_message_as_bytes_and_cut_lines() -> None:
    # journalctl gives a message that is not printable UTF-8 as its bytes.
    raw = list(REJECTED.encode()) + [0xFF]
    log = watch(FakeJournalctl((output([record(raw, 1)]), None)))
    assert log.poll() == 1
    assert log.failure(WEB, "web-node1").endswith("a lowercase RFC 1123 label]")
    # A value line journald cut at LineMax: its rest is no header of its own.
    entries = [
        record(PROBE_FAILED[0], 1),
        record("\t" + "x" * 100, 2, _LINE_BREAK="line-max"),
        record(SPOOF, 3),
        record(" >", 4),
    ]
    log = watch(FakeJournalctl((output(entries), None)))
    assert log.poll() == 1
    assert log.failure(WEB, "web-node1") is None
    # The kubelet's stdout is another stream: its lines do not end a block of stderr's.
    entries = [
        record(PROBE_FAILED[0], 1),
        record(REJECTED, 2, _STREAM_ID="0123456789abcdef0123456789abcdef"),
        record("\t" + SPOOF, 3),
        record(" >", 4),
    ]
    log = watch(FakeJournalctl((output(entries), None)))
    assert log.poll() == 2
    assert "invalid pod" in log.failure(WEB, "web-node1")  # only the real one
    # A field journalctl left out (null) or gave twice (an array of values) is no line.
    assert kubelet_log.message_text(None) is None
    assert kubelet_log.message_text(["a", "b"]) is None
    assert kubelet_log.message_text([104, 105]) == "hi"


def test_journalctl_timeout_then_success() -> None:
    entries = [record(NOISE, 1), record(REJECTED, 2)]
    journalctl = FakeJournalctl(
        # Stopped at its timeout while writing the second entry: the first one counts.
        (output(entries, cut=True), "journalctl did not finish within 10s"),
        (output(entries[1:]), None),
    )
    log = watch(journalctl)
    assert log.poll() == 1
    assert log.journal.problem == "journalctl did not finish within 10s"
    assert log.failure(WEB, "web-node1") is None
    assert log.poll() == 1
    assert journalctl.calls[1][6:8] == ["--after-cursor", entries[0]["__CURSOR"]]
    assert log.journal.problem is None
    assert "invalid pod" in log.failure(WEB, "web-node1")


def test_journalctl_failing_is_tried_again() -> None:
    journalctl = FakeJournalctl(
        (b"", "journalctl exited with 1: Failed to open journal"),
        (output([record(REJECTED, 1)]), None),
    )
    log = watch(journalctl)
    assert log.poll() == 0 and log.journal.problem.startswith("journalctl exited with 1")
    assert log.poll() == 1
    assert journalctl.calls[1][6:8] == ["--since", "@1700000000"]  # no cursor yet
    assert "invalid pod" in log.failure(WEB, "web-node1")


def test_no_journalctl() -> None:
    journalctl = FakeJournalctl(FileNotFoundError(2, "No such file or directory"))
    log = watch(journalctl)
    assert log.poll() == 0 and log.poll() == 0
    assert len(journalctl.calls) == 1  # not tried again
    assert log.journal.problem == "journalctl: No such file or directory"


def test_real_journalctl_runner_keeps_output_of_a_timeout(tmp_path) -> None:
    script = tmp_path / "journalctl"
    script.write_text('#!/bin/sh\nprintf \'{"a":1}\\n{"b"\'\nexec sleep 30\n')
    script.chmod(0o755)
    out, problem = kubelet_log._run_journalctl([str(script)], 0.5)
    assert problem == "journalctl did not finish within 0s"
    assert kubelet_log.journal_entries(out) == [{"a": 1}]


def test_wait_ends_on_the_kubelets_word_only(tmp_path) -> None:
    spoofed = [record(line, i) for i, line in enumerate(PROBE_FAILED)]
    journalctl = FakeJournalctl((output(spoofed), None), (b"", None), (b"", None))

    def journal(since):
        return kubelet_log.KubeletLog(
            kubelet_log.Journal(["kubelet"], since, run=journalctl), lambda: {"kubelet": 4242}
        )

    clock = FakeClock()
    runtime = FakeRuntime()
    node = make_node(tmp_path, clock=clock, runtime=runtime, kubelet_log=journal)
    outcome = wait_for(node, [wait_change(node)], timeout=8, stable_for=2)
    assert outcome["web"].startswith("not settled within 8s")
    assert len(journalctl.calls) >= 3

    journalctl = FakeJournalctl((output(spoofed + [record(REJECTED, 9)]), None))
    node = make_node(tmp_path, clock=FakeClock(), runtime=runtime, kubelet_log=journal)
    outcome = wait_for(node, [wait_change(node)], timeout=8, stable_for=2)
    assert outcome["web"].startswith(f"the kubelet rejected {WEB}: invalid pod")
    assert len(journalctl.calls) == 1


def wait_change(node):
    spec = {"pod": "web", "action": "create", "file": "web.yaml", "namespace": "default"}
    return PodChange(node, spec, "/etc/kubernetes/manifests", "node1")


# Writes a journal file from journald's export format (systemd-journal-remote(8); the format:
# systemd's docs/JOURNAL_EXPORT_FORMATS.md): the real journalctl then reads it with --file,
# no running journald needed (scripts/host-deps.sh installs both).
JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"


def export(entries) -> bytes:
    """Journal export format: ``FIELD=value`` lines, or for a value with a line break or
    other control bytes, the name, a little-endian 64-bit size and the raw bytes."""
    out = b""
    for fields in entries:
        for key, value in fields.items():
            data = value if isinstance(value, bytes) else value.encode()
            if any(b < 32 and b != 9 for b in data):
                out += key.encode() + b"\n" + len(data).to_bytes(8, "little") + data + b"\n"
            else:
                out += key.encode() + b"=" + data + b"\n"
        out += b"\n"
    return out


def append_to_journal(path, tmp_path, messages, first, pid=KUBELET_PID):
    import subprocess

    entries = [
        {
            "__REALTIME_TIMESTAMP": str((1764321121 + first + i) * 1000000),
            "__MONOTONIC_TIMESTAMP": str((5000 + first + i) * 1000000),
            "_BOOT_ID": "0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a",
            "PRIORITY": "6",
            "_TRANSPORT": "stdout",
            "_STREAM_ID": "9f8e7d6c5b4a39281706f5e4d3c2b1a0",
            "SYSLOG_IDENTIFIER": "kubelet",
            "_PID": pid,
            "_COMM": "kubelet",
            "_SYSTEMD_UNIT": "kubelet.service",
            "MESSAGE": message,
        }
        for i, message in enumerate(messages)
    ]
    source = tmp_path / f"export-{first}"
    source.write_bytes(export(entries))
    subprocess.run(
        [JOURNAL_REMOTE, f"--output={path}", str(source)], check=True, capture_output=True
    )


def test_real_journalctl_reads_on(tmp_path) -> None:
    path = tmp_path / "kubelet.journal"
    append_to_journal(path, tmp_path, PROBE_FAILED[:2], 0)
    append_to_journal(path, tmp_path, [REJECTED], 2, pid="4300")  # a helper process
    calls = []

    def run(args):
        calls.append(args)
        return kubelet_log._run_journalctl(args[:1] + ["--file", str(path)] + args[1:], 10)

    log = kubelet_log.KubeletLog(
        kubelet_log.Journal(["kubelet"], 1764321120, run=run), lambda: {"kubelet": 4242}
    )
    assert log.poll() == 0 and log.journal.problem is None
    assert log.journal.cursor.startswith("s=") and "--since" in calls[0]
    # The pod's line, the end of its block, then the kubelet's own line with a byte that is
    # not UTF-8 (journalctl gives that message as an array of bytes).
    rejected = REJECTED.encode().replace(b"Invalid value", b"Invalid \xff value")
    append_to_journal(path, tmp_path, PROBE_FAILED[2:] + [rejected], 3)
    assert log.poll() == 2
    assert calls[1][6] == "--after-cursor"
    assert log.failure(WEB, "web-node1").startswith(
        f"the kubelet rejected {WEB}: invalid pod: [spec.containers[0].name: Invalid \ufffd value"
    )
    assert log.poll() == 0  # nothing new after the cursor


def test_a_wait_that_times_out_says_the_journal_could_not_be_read(tmp_path) -> None:
    """No reason could come from the kubelet: the timeout's message says why."""
    failing = (b"", "journalctl did not finish within 10s")
    journalctl = FakeJournalctl(*[failing] * 20)

    def journal(since):
        return kubelet_log.KubeletLog(
            kubelet_log.Journal(["kubelet"], since, run=journalctl), lambda: {"kubelet": 4242}
        )

    node = make_node(tmp_path, clock=FakeClock(), runtime=FakeRuntime(), kubelet_log=journal)
    outcome = wait_for(node, [wait_change(node)], timeout=8, stable_for=2)
    assert outcome["web"].startswith("not settled within 8s")
    assert outcome["web"].endswith(
        "; the kubelet's journal could not be read: journalctl did not finish within 10s"
    )


# pkg/kubelet/kuberuntime/kuberuntime_manager.go doBackOff: fmt.Errorf("back-off %s
# restarting failed container=%s pod=%s", backOff.Get(key), container.Name, format.Pod(pod))
# with ErrCrashLoopBackOff; pod_workers.go logs the SyncResult error as for a pull. klog
# quotes err with strconv.Quote.
CRASH_LOOP = (
    'E1128 09:12:20.000001    4242 pod_workers.go:1301] "Error syncing pod, skipping" err="failed'
    ' to \\"StartContainer\\" for \\"web\\" with CrashLoopBackOff: \\"back-off 1m20s restarting'
    ' failed container=web pod=web-node1_default(0a1b2c)\\"" pod="default/web-node1"'
    ' podUID="0a1b2c"'
)


def test_crash_loop_back_off_is_read_but_is_no_failure_by_itself() -> None:
    log = kubelet_log.KubeletLog(
        kubelet_log.Journal(
            ["kubelet"], 0, run=FakeJournalctl((output([record(CRASH_LOOP, 1)]), None))
        ),
        lambda: {"kubelet": 4242},
    )
    log.poll()
    assert log.failure(WEB, "web-node1", "default") is None
    container, seconds, text = log.crash_loop(WEB, "web-node1", "default")
    assert (container, seconds) == ("web", 80.0)
    assert text.startswith('failed to "StartContainer" for "web" with CrashLoopBackOff')
    # Another pod, or the pod being replaced: not this change's.
    assert log.crash_loop(WEB, "web-node2") is None
    assert log.crash_loop(WEB, "web-node1", not_uid="0a1b2c") is None


def test_go_durations_of_the_back_off() -> None:
    for duration, seconds in (("10s", 10), ("5m0s", 300), ("1m20s", 80), ("2.5s", 2.5)):
        found = kubelet_log.crash_loop_backoff(
            f"back-off {duration} restarting failed container=c pod=p_ns(u)"
        )
        assert found[:2] == ("c", seconds)
    assert kubelet_log.crash_loop_backoff("CrashLoopBackOff without a back-off") is None
    # Text a container's name or a hostile line puts there is no duration: no error either.
    assert kubelet_log.crash_loop_backoff("back-off 1.2.3s restarting failed container=c") is None


# kuberuntime_manager.go SyncPod aggregates the results of every container of the pod
# (utilerrors.NewAggregate: "[err1, err2]"), so one line can name a back-off and a pull.
CRASH_LOOP_AND_PULL = (
    'E1128 09:12:20.000001    4242 pod_workers.go:1301] "Error syncing pod, skipping" err="['
    'failed to \\"StartContainer\\" for \\"web\\" with CrashLoopBackOff: \\"back-off 10s'
    ' restarting failed container=web pod=web-node1_default(0a1b2c)\\", failed to'
    ' \\"StartContainer\\" for \\"side\\" with ErrImagePull: \\"pull access denied\\"]"'
    ' pod="default/web-node1" podUID="0a1b2c"'
)


def test_a_back_off_does_not_hide_another_containers_pull_failure() -> None:
    log = kubelet_log.KubeletLog(
        kubelet_log.Journal(
            ["kubelet"], 0, run=FakeJournalctl((output([record(CRASH_LOOP_AND_PULL, 1)]), None))
        ),
        lambda: {"kubelet": 4242},
    )
    log.poll()
    assert "ErrImagePull" in (log.failure(WEB, "web-node1", "default") or "")
    assert log.crash_loop(WEB, "web-node1", "default")[:2] == ("web", 10.0)


def test_a_wait_fails_when_the_kubelets_back_off_outlasts_it(tmp_path) -> None:
    # The pod keeps Running (getPhase, restartPolicy Always) with its container waiting for
    # the restart; the kubelet says it backs off 80 s, and the wait has 30 s: it fails at once
    # with the kubelet's words rather than at its timeout.
    journalctl = FakeJournalctl((output([record(CRASH_LOOP, 1)]), None))

    def journal(since):
        return kubelet_log.KubeletLog(
            kubelet_log.Journal(["kubelet"], since, run=journalctl), lambda: {"kubelet": 4242}
        )

    crashed = pod(
        name="web-node1", uid="new", restarts=2, state="exited", exit_code=1, reason="Error"
    )
    clock = FakeClock()
    runtime = FakeRuntime([crashed])
    node = make_node(tmp_path, clock=clock, runtime=runtime, kubelet_log=journal)
    start = clock.monotonic()
    outcome = wait_for(node, [wait_change(node)], timeout=30, stable_for=5)
    assert outcome["web"].startswith("the pod is in CrashLoopBackOff: the kubelet restarts web")
    assert "back-off of 80s" in outcome["web"] and "exit code 1, Error" in outcome["web"]
    assert clock.monotonic() - start < 5
