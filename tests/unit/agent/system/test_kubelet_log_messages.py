"""The kubelet's messages that end a wait, in both of its log formats (agent/system/kubelet_log.py).

Each line is what the kubelet writes for the call named beside it: klog's text (klog.go
formatHeader and printS: the message and string values strconv.Quote'd) or component-base's
JSON (k8s.io/component-base/logs/json/json.go: ts as epoch milliseconds, caller, msg, v on
info lines, the call's keys in order, err last on errors; klog_test.go there shows the shapes).
Lines quoted from real kubelets say where they come from.
"""

from __future__ import annotations

import json

import pytest
from spctl_agent.system import kubelet_log
from spctl_agent.transaction.manifest_change import PodChange
from spctl_agent.transaction.wait import wait_for

from tests.fakes.agent_node import FakeClock, FakeRuntime, make_node

WEB = "/etc/kubernetes/manifests/web.yaml"
INVALID = "invalid pod: [spec.containers[0].image: Required value]"

# pkg/kubelet/config/file.go extractFromDir (the re-list): klog.ErrorS(err, "Could not process
# manifest file", "path", path). Text: err first (klog writes an ErrorS's err before the keys).
RELIST_TEXT = (
    'E1207 10:00:20.000001    4242 file.go:187] "Could not process manifest file"'
    ' err="invalid pod: [spec.containers[0].image: Required value]"'
    ' path="/etc/kubernetes/manifests/web.yaml"'
)
# Talos's docs quote a kubelet's JSON line for it (siderolabs/talos, static pods guide):
# {"ts":1644505520281.427,"caller":"config/file.go:187","msg":"Could not process manifest
# file","path":"/etc/kubernetes/manifests/talos-default-nginx-gvisor.yaml","err":"invalid
# pod: [spec.containers: Required value]"}; the same shape for our file:
RELIST_JSON = (
    '{"ts":1765101620000.123,"caller":"config/file.go:187","msg":"Could not process manifest'
    ' file","path":"/etc/kubernetes/manifests/web.yaml","err":"invalid pod:'
    ' [spec.containers[0].image: Required value]"}'
)
# file.go run: klog.ErrorS(err, "Unable to process watch event"), with the error of
# file_linux.go consumeWatchEvent: fmt.Errorf("can't process config file %q: %v", ...).
WATCH_TEXT = (
    'E1207 10:00:01.000001    4242 file.go:105] "Unable to process watch event"'
    ' err="can\'t process config file \\"/etc/kubernetes/manifests/web.yaml\\": invalid pod:'
    ' [spec.containers[0].image: Required value]"'
)
WATCH_JSON = (
    '{"ts":1765101601000.5,"caller":"config/file.go:105","msg":"Unable to process watch'
    ' event","err":"can\'t process config file \\"/etc/kubernetes/manifests/web.yaml\\":'
    ' invalid pod: [spec.containers[0].image: Required value]"}'
)
# pod_workers.go: klog.ErrorS(err, "Error syncing pod, skipping", "pod", klog.KObj(pod),
# "podUID", pod.UID); kubelet.go SyncPod's fmt.Errorf("%s: %v", NetworkNotReadyErrorMsg, err).
# A real line (calico's docs, a node before its CNI):
NETWORK_TEXT_REAL = (
    'E0903 23:50:03.692175    3205 pod_workers.go:1324] "Error syncing pod, skipping"'
    ' err="network is not ready: container runtime network not ready: NetworkReady=false'
    " reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not"
    ' initialized" pod="calico-system/csi-node-driver-wnx8x"'
    ' podUID="b1418c4b-13e8-4a44-b207-692af582b82a"'
)
NETWORK_JSON = (
    '{"ts":1765101602000.25,"caller":"kubelet/pod_workers.go:1301","msg":"Error syncing pod,'
    ' skipping","pod":{"name":"web-node1","namespace":"default"},"podUID":"0a1b2c",'
    '"err":"network is not ready: container runtime network not ready: NetworkReady=false'
    " reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not"
    ' initialized"}'
)
# kuberuntime_container.go startContainer: StartContainer failed -> kubecontainer.ErrRunContainer
# (container/sync_result.go "RunContainerError") with the CRI's message; the SyncResult's
# error is fmt.Errorf("failed to %q for %q with %v: %q", ...). containerd's message for a
# command that is not in the image:
NOT_IN_IMAGE = (
    "failed to create containerd task: failed to create shim task: OCI runtime create failed:"
    ' runc create failed: unable to start container process: exec: "nope": executable file'
    " not found in $PATH: unknown"
)
RUN_ERROR = 'failed to "StartContainer" for "web" with RunContainerError: ' + json.dumps(
    NOT_IN_IMAGE
)
RUN_TEXT = (
    'E1207 10:00:03.000001    4242 pod_workers.go:1301] "Error syncing pod, skipping"'
    f' err={json.dumps(RUN_ERROR)} pod="default/web-node1" podUID="0a1b2c"'
)
RUN_JSON = json.dumps(
    {
        "ts": 1765101603000.75,
        "caller": "kubelet/pod_workers.go:1301",
        "msg": "Error syncing pod, skipping",
        "pod": {"name": "web-node1", "namespace": "default"},
        "podUID": "0a1b2c",
        "err": RUN_ERROR,
    },
    separators=(",", ":"),
)
CREATE_ERROR = (
    'failed to "StartContainer" for "web" with CreateContainerError: "failed to reserve'
    ' container name \\"web_web-node1_default_0a1b2c_0\\": name is reserved"'
)
CREATE_TEXT = (
    'E1207 10:00:04.000001    4242 pod_workers.go:1301] "Error syncing pod, skipping"'
    f' err={json.dumps(CREATE_ERROR)} pod="default/web-node1" podUID="0a1b2c"'
)
# http.go run: klog.InfoS("Failed to read pods from URL", "err", err): info level, no pod.
URL_TEXT = (
    'I1207 10:00:05.000001    4242 http.go:80] "Failed to read pods from URL"'
    ' err="invalid pod: [spec.containers[0].image: Required value]"'
)
URL_JSON = (
    '{"ts":1765101605000.5,"caller":"config/http.go:80","msg":"Failed to read pods from URL",'
    '"v":0,"err":"invalid pod: [spec.containers[0].image: Required value]"}'
)
URL_REFUSED = (
    'I1207 10:00:05.000001    4242 http.go:80] "Failed to read pods from URL" err="Get'
    ' \\"http://10.0.0.5:8080/nodes/node1/pods.json\\": dial tcp 10.0.0.5:8080: connect:'
    ' connection refused"'
)
URL_NOT_FOUND = (
    '{"ts":1765101606000.5,"caller":"config/http.go:80","msg":"Failed to read pods from URL",'
    '"v":0,"err":"http://10.0.0.5:8080/nodes/node1/pods.json: 404 Not Found"}'
)
URL_OK = 'I1207 10:00:25.000001    4242 http.go:92] "Successfully read pods from URL"'


def test_both_formats_give_the_same_entry() -> None:
    assert kubelet_log.parse_line(RELIST_TEXT)[1:] == kubelet_log.parse_line(RELIST_JSON)[1:]
    caller, message, fields = kubelet_log.parse_line(RUN_JSON)
    assert caller == "kubelet/pod_workers.go:1301" and message == "Error syncing pod, skipping"
    # klog.KObj is an object in JSON, "<namespace>/<name>" in text: read as the text gives it.
    assert fields == kubelet_log.parse_line(RUN_TEXT)[2]
    assert fields["pod"] == "default/web-node1"
    # "ts" and "v" are numbers and not the call's keys.
    assert "v" not in kubelet_log.parse_line(URL_JSON)[2]


@pytest.mark.parametrize(
    "line",
    [
        '{"ts":"2025-12-07T10:00:00Z","msg":"Could not process manifest file"}',  # zap's ISO ts
        '{"ts":1765101620000.1,"msg":42}',
        '{"ts":true,"msg":"x"}',
        '{"ts":1765101620000.1,"msg":"x","v":"0"}',
        '["Could not process manifest file"]',
        '{"ts":1765101620000.1,"msg":"x"',
        "\tinvalid pod",
    ],
)
def test_what_is_not_a_json_line(line) -> None:
    assert kubelet_log.parse_json_line(line) is None


@pytest.mark.parametrize("line", [RELIST_TEXT, RELIST_JSON, WATCH_TEXT, WATCH_JSON])
def test_a_rejected_file_in_either_format(line) -> None:
    reason = kubelet_log.failure([line], WEB, "web-node1")
    assert reason == f"the kubelet rejected {WEB}: {INVALID}"
    assert kubelet_log.failure([line], "/etc/kubernetes/manifests/web.yaml.bak", "x") is None
    assert kubelet_log.failure([line], None, "web-node1") is None  # a pod without a file


def test_the_watch_message_names_the_path_as_go_quotes_it() -> None:
    path = '/etc/kubelet.d/odd"name.yaml'
    err = f"can't process config file {kubelet_log.go_quote(path)}: {INVALID}"
    line = json.dumps(
        {
            "ts": 1.0,
            "caller": "config/file.go:105",
            "msg": "Unable to process watch event",
            "err": err,
        }
    )
    assert kubelet_log.go_quote(path) == '"/etc/kubelet.d/odd\\"name.yaml"'
    assert kubelet_log.failure([line], path, "x") == f"the kubelet rejected {path}: {INVALID}"
    # Another error of consumeWatchEvent names no file and rejects none.
    other = json.dumps(
        {
            "ts": 1.0,
            "msg": "Unable to process watch event",
            "err": "the pod with key default/web-node1 doesn't exist in cache",
        }
    )
    assert kubelet_log.failure([other], path, "web-node1") is None


@pytest.mark.parametrize("line", [NETWORK_JSON, RUN_TEXT, RUN_JSON, CREATE_TEXT])
def test_the_kubelet_cannot_start_the_pod(line) -> None:
    reason = kubelet_log.failure([line], WEB, "web-node1", "default")
    err = kubelet_log.parse_line(line)[2]["err"]
    assert reason == f"the kubelet cannot start default/web-node1: {err}"
    assert kubelet_log.failure([line], WEB, "web-node1", "kube-system") is None
    assert kubelet_log.failure([line], WEB, "web-node1", not_uid="0a1b2c") is None


def test_a_real_network_line() -> None:
    reason = kubelet_log.failure([NETWORK_TEXT_REAL], WEB, "csi-node-driver-wnx8x")
    assert reason.startswith(
        "the kubelet cannot start calico-system/csi-node-driver-wnx8x: network is not ready:"
    )


def test_the_command_not_in_the_image_says_so() -> None:
    reason = kubelet_log.failure([RUN_JSON], WEB, "web-node1")
    assert 'RunContainerError: "failed to create containerd task' in reason
    assert 'exec: \\"nope\\": executable file not found in $PATH' in reason


@pytest.mark.parametrize("line", [URL_TEXT, URL_JSON])
def test_the_url_body_refused(line) -> None:
    reason = kubelet_log.failure([line], None, "web-node1", url=True)
    assert reason == f"the kubelet rejected the pods of its manifest URL: {INVALID}"
    # Not a pod of the URL: the URL's word is not this pod's.
    assert kubelet_log.failure([line], WEB, "web-node1") is None


def test_the_url_fetch_failing_is_not_a_rejection() -> None:
    for line in (URL_REFUSED, URL_NOT_FOUND):
        assert kubelet_log.failure([line], None, "web-node1", url=True) is None
    assert kubelet_log.fetch_failed("zero-length data received from http://h/p")
    assert not kubelet_log.fetch_failed("the read limit is reached")  # the body's size


def test_a_later_good_read_clears_the_url_rejection() -> None:
    # http.go logs a refused body once; the same body again, or any later good one, logs
    # "Successfully read pods from URL" (failureLogs > 0).
    assert kubelet_log.failure([URL_TEXT, URL_OK], None, "web-node1", url=True) is None
    after = kubelet_log.failure([URL_OK, URL_JSON], None, "web-node1", url=True)
    assert after and after.endswith(INVALID)
    # After three failures in a row the kubelet says it logs the next ones at V(4).
    dropping = URL_TEXT.replace(
        "from URL", "from URL. Dropping verbosity of this message to V(4)", 1
    )
    assert kubelet_log.failure([dropping], None, "web-node1", url=True).endswith(INVALID)


def record(message, seconds, n):
    return {
        "__CURSOR": f"s=1;i={n:x}",
        "__REALTIME_TIMESTAMP": str(int(seconds * 1000000)),
        "_TRANSPORT": "stdout",
        "_STREAM_ID": "9f8e7d6c5b4a39281706f5e4d3c2b1a0",
        "_PID": "4242",
        "_SYSTEMD_UNIT": "kubelet.service",
        "MESSAGE": message,
    }


def journal_of(records, calls):
    def run(args):
        calls.append(args)
        if len(calls) > 1:
            return b"", None
        return b"".join(json.dumps(r).encode() + b"\n" for r in records), None

    def kubelet_log_since(since):
        return kubelet_log.KubeletLog(
            kubelet_log.Journal(["kubelet"], since, run=run), lambda: {"kubelet": 4242}
        )

    return kubelet_log_since


def url_wait(node):
    spec = {"pod": "web", "action": "unchanged", "file": "web.yaml", "sources": ["http"]}
    return PodChange(node, spec, "/etc/kubernetes/manifests", "node1")


def test_a_url_wait_reads_back_to_the_fetch(tmp_path) -> None:
    """The control host starts the wait once the kubelet fetched the body: its rejection is
    older than the wait, and ends it all the same; a pod's older entries do not count."""
    clock = FakeClock()
    now = clock.time()
    calls = []
    records = [
        record(RUN_JSON, now - 20, 1),  # the pod of an earlier body
        record(URL_JSON, now - 5, 2),
    ]
    node = make_node(
        tmp_path, clock=clock, runtime=FakeRuntime(), kubelet_log=journal_of(records, calls)
    )
    outcome = wait_for(node, [url_wait(node)], timeout=8, stable_for=2)
    assert outcome["web"] == f"the kubelet rejected the pods of its manifest URL: {INVALID}"
    assert calls[0][calls[0].index("--since") + 1] == f"@{int(now - 61)}"

    calls = []
    node = make_node(
        tmp_path,
        clock=FakeClock(),
        runtime=FakeRuntime(),
        kubelet_log=journal_of(records[:1], calls),
    )
    outcome = wait_for(node, [url_wait(node)], timeout=8, stable_for=2)
    assert outcome["web"].startswith("not settled within 8s")


def test_the_body_fetched_again_during_the_wait_keeps_its_rejection(tmp_path) -> None:
    """http.go: the same refused body fetched again is a good read (extractFromURL returns
    early on unchanged bytes) and logs "Successfully read pods from URL": during the wait it
    is this body's, and clears nothing; logged before the wait, it cleared an older one."""
    clock = FakeClock()
    now = clock.time()
    records = [record(URL_JSON, now - 3, 1), record(URL_OK, now + 0.5, 2)]
    node = make_node(
        tmp_path, clock=clock, runtime=FakeRuntime(), kubelet_log=journal_of(records, [])
    )
    outcome = wait_for(node, [url_wait(node)], timeout=8, stable_for=2)
    assert outcome["web"] == f"the kubelet rejected the pods of its manifest URL: {INVALID}"
    records = [record(URL_JSON, now - 30, 1), record(URL_OK, now - 3, 2)]
    node = make_node(
        tmp_path, clock=FakeClock(), runtime=FakeRuntime(), kubelet_log=journal_of(records, [])
    )
    outcome = wait_for(node, [url_wait(node)], timeout=8, stable_for=2)
    assert outcome["web"].startswith("not settled within 8s")


def test_a_file_wait_reads_from_its_start(tmp_path) -> None:
    clock = FakeClock()
    start = clock.time()
    calls = []
    records = [record(WATCH_JSON, start, 1)]
    node = make_node(
        tmp_path, clock=clock, runtime=FakeRuntime(), kubelet_log=journal_of(records, calls)
    )
    spec = {"pod": "web", "action": "create", "file": "web.yaml", "namespace": "default"}
    change = PodChange(node, spec, "/etc/kubernetes/manifests", "node1")
    outcome = wait_for(node, [change], timeout=8, stable_for=2)
    assert outcome["web"] == f"the kubelet rejected {WEB}: {INVALID}"
    assert calls[0][calls[0].index("--since") + 1] == f"@{int(start - 1)}"


def test_a_failed_pod_waits_a_moment_for_the_kubelets_word(tmp_path) -> None:
    """The runtime shows a start that failed (exit code 128) as the kubelet logs why: the
    journal is read once more before the pod's state is the answer."""
    from tests.fakes.agent_node import pod

    clock = FakeClock()
    reads = []

    def run(args):
        # The kubelet logged it before the runtime showed the failure; the wait sees the
        # failed pod at once, before its first regular read of the journal.
        reads.append(args)
        return json.dumps(record(RUN_JSON, clock.time(), len(reads))).encode() + b"\n", None

    def kubelet_log_since(since):
        return kubelet_log.KubeletLog(
            kubelet_log.Journal(["kubelet"], since, run=run), lambda: {"kubelet": 4242}
        )

    failed = pod(name="web-node1", uid="new", phase="Failed", exit_code=128)
    node = make_node(
        tmp_path, clock=clock, runtime=FakeRuntime([failed]), kubelet_log=kubelet_log_since
    )
    spec = {"pod": "web", "action": "create", "file": "web.yaml", "namespace": "default"}
    change = PodChange(node, spec, "/etc/kubernetes/manifests", "node1")
    outcome = wait_for(node, [change], timeout=8, stable_for=2)
    assert outcome["web"].startswith("the kubelet cannot start default/web-node1: "), outcome
    assert "RunContainerError" in outcome["web"] and len(reads) == 1
