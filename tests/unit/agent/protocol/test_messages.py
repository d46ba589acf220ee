"""The control host/agent messages (agent/protocol/messages.py): every field a builder writes
comes back from its reader after a trip through JSON, and no builder writes a field that
its reader does not give back."""

from __future__ import annotations

import base64
import inspect
import json

import pytest
from spctl_agent.protocol import DEFAULT_HEALTHZ_URL, OP_APPLY, OP_FACTS, messages

SPEC = {"hostNetwork": False, "containers": [{"name": "web", "ports": [], "readinessProbe": {}}]}

FILE_CHANGE = {
    "path": "/etc/haproxy/haproxy.cfg",
    "action": "write",
    "content_b64": "ZnJvbnRlbmQgYXBpCg==",  # "frontend api\n"
    "sha256": "7a6b51ce47152a985057700d31d93d901e6c156acbedd12b548e474de484db08",
    "expected_sha256": "e" * 64,
    "mode": 0o600,
    "owner": "haproxy",
    "group": "0",
    "secret": True,
}
FILE_STATE = {
    "exists": True,
    "type": "file",
    "sha256": "f" * 64,
    "size": 13,
    "mode": 0o640,
    "owner": "root",
    "group": "haproxy",
    "uid": 0,
    "gid": 107,
}
POD_CHANGE = {
    "pod": "web",
    "action": "move",
    "file": "web.yaml",
    "content": "kind: Pod\n",
    "expected_sha256": "a" * 64,
    "from_path": "/etc/old/web.yaml",
    "from_sha256": "b" * 64,
    "namespace": "kube-system",
    "probes": SPEC,
    "sources": ["file", "http"],
    "restart_policy": "OnFailure",
    "files": [FILE_CHANGE],
    "kept_backup": True,
}
WAIT = {
    "pod": "db",
    "file": "db.yaml",
    "expected_sha256": None,
    "sources": ["http"],
    "restart_policy": "Never",
}
KUBELET_FILE = {
    "path": "/etc/default/kubelet",
    "content": "X=\udcff\n",
    "expected_sha256": "c" * 64,
    "mode": 0o600,
}
KUBELET = {
    "unit": "kubelet",
    "files": [messages.kubelet_file(**KUBELET_FILE)],
    "daemon_reload": True,
    "healthz_url": "http://127.0.0.1:10999/healthz",
    "timeout": 42.0,
    "flag": ["--pod-manifest-path", "/etc/new"],
    "dir_before": "/etc/old",
    "expect_dir": "/etc/new",
}
CONTAINER_OUTPUT = {"container": "web", "lines": ["listen: \x1b[31maddress in use"], "cut": True}
POD_RESULT = {
    "name": "web",
    "action": "update",
    "ok": True,
    "phase": "Running",
    "error": "x",
    "rolled_back": True,
    "output": [messages.container_output(**CONTAINER_OUTPUT)],
}

RUNTIME = {
    "runtime": "cri",
    "endpoint": "unix:///run/containerd/containerd.sock",
    "error": "unix:///run/crio/crio.sock: UNAVAILABLE",
    "cri_version": "v1alpha2",
    "pods": [{"pod": "web-node1", "phase": "Running"}],
}

#: builder: (every keyword it takes, with a value that is not its default; what its reader
#: gives for them: the same, with nested messages read by their own readers).
CASES = {
    messages.facts_request: (
        {
            "pods": ["web"],
            "units": ["kubelet", "k3s"],
            "read": ["/etc/default/kubelet"],
            "read_globs": ["/etc/rancher/k3s/config.yaml.d/*"],
            "read_env_files": True,
            "manifest_dirs": ["/etc/kubernetes/manifests"],
            "healthz_url": "http://127.0.0.1:1/healthz",
            "probes": {"web": SPEC},
            "node_ip": "10.0.0.5",
            "restart_policies": {"web": "Always", "job": "Never"},
            "pod_files": ["/etc/haproxy/haproxy.cfg"],
        },
        {},
    ),
    messages.facts_answer: (
        {
            "hostname": "node1",
            "python": "3.6.9",
            "os_release": {"ID": "ubuntu"},
            "files": {"/etc/a": "text", "/etc/b": None},
            "units": {"kubelet": {"MainPID": "7", "cmdline": ["/usr/bin/kubelet"]}},
            "globs": {"/etc/x/*": ["/etc/x/a"]},
            "dirs": {"/etc/m": {"exists": True, "entries": [], "unsafe": None}},
            "kubelets": {"kubelet": {"pid": 7, "manifest_dir": "/etc/m"}},
            "owned": {"/etc/m/web.yaml": {"pod": "web", "sha256": "d" * 64}},
            "backups": {"web": ["20260101T000000000000Z.yaml"]},
            "runtime": messages.runtime_state(**RUNTIME),
            "healthz": True,
            "lock": {"holder": "spctl by ann", "pid": 9},
            "journal": {"id": "abc", "phase": "begun"},
            "recovered": {"action": "rolled back", "ok": True},
            "pod_files": {"/etc/haproxy/haproxy.cfg": messages.file_state(**FILE_STATE)},
            "owned_files": {"/etc/haproxy/haproxy.cfg": {"pod": "lb", "sha256": "f" * 64}},
        },
        {"runtime": RUNTIME, "pod_files": {"/etc/haproxy/haproxy.cfg": FILE_STATE}},
    ),
    messages.runtime_state: (RUNTIME, {}),
    messages.apply_request: (
        {
            "node_name": "node1",
            "manifest_dir": "/etc/kubernetes/manifests",
            "holder": "spctl by ann",
            "wait_lock": 7.5,
            "timeout": 60.0,
            "stable_for": 2.0,
            "changes": [messages.pod_change(**POD_CHANGE)],
            "wait_running": [messages.wait_for(**WAIT)],
            "kubelet": messages.kubelet_change(**KUBELET),
            "planned_while_busy": True,
            "switch": True,
            "node_ip": "10.0.0.5",
        },
        {
            "changes": [POD_CHANGE],
            "wait_running": [WAIT],
            "kubelet": {**KUBELET, "files": [KUBELET_FILE]},
        },
    ),
    messages.pod_change: (POD_CHANGE, {}),
    messages.file_change: (FILE_CHANGE, {}),
    messages.file_state: (FILE_STATE, {}),
    messages.wait_for: (WAIT, {}),
    messages.kubelet_change: (KUBELET, {"files": [KUBELET_FILE]}),
    messages.kubelet_file: (KUBELET_FILE, {}),
    messages.apply_answer: (
        {
            "kubelet_restarted": True,
            "pods": [messages.pod_result(**POD_RESULT)],
            "kubelet_restored": True,
            "errors": ["could not restore /etc/m/web.yaml: read-only"],
            "recovered": {"action": "completed", "ok": True},
        },
        {"pods": [{**POD_RESULT, "output": [CONTAINER_OUTPUT]}]},
    ),
    messages.pod_result: (POD_RESULT, {"output": [CONTAINER_OUTPUT]}),
    messages.container_output: (CONTAINER_OUTPUT, {}),
}

ENVELOPE = {"ok_answer", "error_answer", "read_status", "read_op"}


def reader_of(builder):
    return getattr(messages, "read_" + builder.__name__)


def public_functions():
    return {
        name
        for name, value in vars(messages).items()
        if inspect.isfunction(value) and not name.startswith("_") and name not in ENVELOPE
    }


def test_every_builder_has_a_reader_and_a_case():
    names = public_functions()
    builders = {n for n in names if not n.startswith("read_")}
    readers = names - builders
    assert {"read_" + b for b in builders} <= readers
    # Besides those, only a reader of a request's head (what is read before the lock).
    assert readers - {"read_" + b for b in builders} <= {"read_" + b + "_head" for b in builders}
    assert {b.__name__ for b in CASES} == builders


@pytest.mark.parametrize("builder", list(CASES), ids=lambda b: b.__name__)
def test_every_field_comes_back_through_json(builder):
    given, nested = CASES[builder]
    params = inspect.signature(builder).parameters
    assert all(p.kind is p.KEYWORD_ONLY for p in params.values()), "builders take keywords"
    assert set(given) == set(params), "a case gives every keyword its builder takes"
    wire = json.loads(json.dumps(builder(**given)))
    read = reader_of(builder)(wire)
    assert read == {**given, **nested}
    # Nothing on the wire that the reader does not give back (the op is the envelope's).
    assert set(wire) - {"op"} <= set(read)


def test_requests_name_their_op():
    assert messages.read_op(messages.facts_request()) == OP_FACTS
    assert messages.read_op(messages.apply_request(node_name="n")) == OP_APPLY


def test_readers_fill_in_what_a_request_leaves_out():
    assert messages.read_facts_request({"op": "facts"}) == {
        "pods": [],
        "units": [],
        "read": [],
        "read_globs": [],
        "read_env_files": False,
        "manifest_dirs": [],
        "healthz_url": DEFAULT_HEALTHZ_URL,
        "probes": {},
        "node_ip": None,
        "restart_policies": {},
        "pod_files": [],
    }
    assert messages.read_apply_request({"node_name": "n"}) == {
        "node_name": "n",
        "manifest_dir": None,
        "holder": "spctl",
        "wait_lock": 0.0,
        "timeout": 300.0,
        "stable_for": 5.0,
        "changes": [],
        "wait_running": [],
        "kubelet": None,
        "planned_while_busy": False,
        "switch": False,
        "node_ip": None,
    }
    kubelet = messages.read_kubelet_change({"unit": "kubelet", "files": []})
    assert kubelet["healthz_url"] == DEFAULT_HEALTHZ_URL and kubelet["timeout"] == 90.0
    with pytest.raises(messages.MessageError, match="no 'node_name'"):
        messages.read_apply_request({"op": "apply"})  # no node name: refused


def test_a_wait_checks_the_file_only_when_it_names_its_content():
    assert messages.read_wait_for("web")["expected_sha256"] is messages.ANY_CONTENT
    unchecked = json.loads(json.dumps(messages.wait_for(pod="web")))
    assert unchecked == {"pod": "web"}
    assert messages.read_wait_for(unchecked)["expected_sha256"] is messages.ANY_CONTENT
    absent = json.loads(json.dumps(messages.wait_for(pod="web", expected_sha256=None)))
    assert messages.read_wait_for(absent)["expected_sha256"] is None


def test_optional_answer_fields_are_written_only_when_set():
    assert messages.apply_answer() == {"kubelet_restarted": False, "pods": []}
    assert "rolled_back" not in messages.pod_result(name="w", action="create", ok=True)
    assert "output" not in messages.pod_result(name="w", action="create", ok=True)
    assert messages.read_status(messages.ok_answer({"pods": []})) == (True, None)
    assert messages.read_status(messages.error_answer("no")) == (False, "no")


def test_nothing_is_imported_when_the_module_loads():
    import ast
    from pathlib import Path

    tree = ast.parse(Path(messages.__file__).read_text())
    assert not [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]


def test_the_head_of_an_apply_request_is_what_the_whole_request_reads():
    given, _ = CASES[messages.apply_request]
    wire = json.loads(json.dumps(messages.apply_request(**given)))
    head = messages.read_apply_request_head(wire)
    whole = messages.read_apply_request(wire)
    assert head.pop("changes_pods") is True
    assert head == {k: whole[k] for k in head}


@pytest.mark.parametrize(
    "read, message, words",
    [
        (messages.read_apply_request_head, {"changes": []}, "apply request has no 'node_name'"),
        (
            messages.read_apply_request,
            {"node_name": "n", "changes": [{"pod": "web", "action": "create"}]},
            "apply request.changes[0] has no 'file'",
        ),
        (
            messages.read_apply_request,
            {"node_name": "n", "changes": "web"},
            "changes is not a list",
        ),
        (messages.read_apply_request, {"node_name": "n", "wait_running": [7]}, "is not a mapping"),
        (messages.read_kubelet_change, {"unit": "kubelet", "files": {}}, "files is not a list"),
        (messages.read_apply_answer, {"pods": None}, "apply answer.pods is not a list"),
        (messages.read_apply_answer, {"pods": [{"name": "web"}]}, "pods[0] has no 'action'"),
        (messages.read_apply_answer, {"errors": "disk full"}, "errors is not a list"),
        (messages.read_apply_answer, {"errors": [1]}, "errors holds something other than text"),
        (messages.read_facts_request, {"node_ip": ["10.0.0.1"]}, "node_ip is not text"),
        (
            messages.read_facts_request,
            {"restart_policies": {"web": 1}},
            "not a mapping of text to text",
        ),
        (messages.read_apply_request, {"node_name": "n", "node_ip": 7}, "node_ip is not text"),
        (
            messages.read_wait_for,
            {"pod": "web", "restart_policy": ["Never"]},
            "wait.restart_policy is not text",
        ),
        (
            messages.read_pod_change,
            {"pod": "web", "action": "create", "file": "w.yaml", "restart_policy": 0},
            "pod change.restart_policy is not text",
        ),
        (messages.read_facts_request, {"pod_files": ["etc/x"]}, "is not an absolute path"),
        (messages.read_file_change, {**FILE_CHANGE, "path": "/etc/../x"}, "not a normalised"),
        (messages.read_file_change, {**FILE_CHANGE, "path": "x"}, "is not an absolute path"),
        (messages.read_file_change, {**FILE_CHANGE, "action": "chmod"}, "not write or remove"),
        (messages.read_file_change, {**FILE_CHANGE, "content_b64": "!!"}, "is not base64"),
        (
            messages.read_file_change,
            {**FILE_CHANGE, "sha256": "0" * 64},
            "sha256 is not the sha256 of its content",
        ),
        (messages.read_file_change, {**FILE_CHANGE, "mode": 0o17777}, "not a permission mode"),
        (messages.read_file_change, {**FILE_CHANGE, "mode": "0644"}, "mode is not a whole"),
        (
            messages.read_file_change,
            {"path": "/x", "action": "write", "mode": 0o644},
            "a write needs content_b64 and its sha256",
        ),
        (messages.read_facts_answer, {"pod_files": {"/x": 1}}, "pod_files['/x'] is not a mapping"),
        (messages.read_runtime_state, {"cri_version": 1}, "runtime.cri_version is not text"),
        (messages.read_runtime_state, {"endpoint": {}}, "runtime.endpoint is not text"),
        (messages.read_runtime_state, {"pods": ["web"]}, "runtime.pods[0] is not a mapping"),
        (
            messages.read_runtime_state,
            {"pods": [{"containers": [{"name": "web", "last_exit_code": "1; rm"}]}]},
            "pods[0].containers[0].last_exit_code is not a whole number",
        ),
        (
            messages.read_runtime_state,
            {"pods": [{"containers": [{"name": "web", "last_exit_code": True}]}]},
            "last_exit_code is not a whole number",
        ),
        (
            messages.read_runtime_state,
            {"pods": [{"containers": [{"name": "web", "exit_code": "1; rm"}]}]},
            "containers[0].exit_code is not a whole number",
        ),
        (
            messages.read_runtime_state,
            {"pods": [{"containers": [{"name": "web", "last_reason": 3}]}]},
            "last_reason is not text",
        ),
    ],
)
def test_a_malformed_message_is_refused_naming_the_field(read, message, words):
    with pytest.raises(messages.MessageError) as refused:
        read(message)
    assert words in str(refused.value)


def test_container_output_that_is_not_text_is_refused_by_name():
    answer = {
        "pods": [
            {"name": "web", "action": "create", "output": [{"container": "web", "lines": [1]}]}
        ]
    }
    with pytest.raises(messages.MessageError, match=r"apply answer.pods\[0\].output\[0\].lines"):
        messages.read_apply_answer(answer)


def test_a_refused_file_change_never_shows_its_bytes():
    secret = base64.b64encode(b"password=hunter2").decode()
    with pytest.raises(messages.MessageError) as refused:
        messages.read_file_change({**FILE_CHANGE, "content_b64": secret})
    assert secret not in str(refused.value) and "hunter2" not in str(refused.value)
