"""The messages between spctl on the control host and its agent: one builder and one reader
for every request and answer, with every field written down beside them.

Both sides import this module (the control host as ``spctl_agent.protocol.messages``): the
control host builds requests and reads answers, the agent reads requests and builds answers,
through the same functions, so a field exists in one place. It runs on the node's python
(3.6 or newer), standard library only, and imports nothing at module level, so importing it
costs a facts call nothing.

One call is one JSON request on the agent's stdin (the last non-empty line; none at all is
a facts request with no fields) and one JSON answer on its stdout::

    {"ok": true, "error": null, ...the op's fields}     ok_answer(fields)
    {"ok": false, "error": "what went wrong"}           error_answer(message)

read with ``read_status(answer)``. Builders take keyword arguments named as the fields they
write; readers give every field, defaults filled in, in a dict keyed by those names, and
raise ``MessageError`` naming a field that is missing or of the wrong shape.

facts request (``facts_request``, ``read_facts_request``)
    pods             [pod name]: read ``<dir>/<pod>.yaml`` in every manifest directory and
                     list the pod's backups
    units            [unit, without ".service"]: ``systemctl show`` of each (one process)
    read             [path]: files read verbatim, undecodable bytes kept as lone surrogates
    read_globs       [pattern]: a file, or ``DIR/*``; every regular file matched is read,
                     secrets redacted (``facts.redact``)
    read_env_files   bool: also read every EnvironmentFiles path of the units, redacted
    manifest_dirs    [dir]: list these (and the directories the running kubelets watch)
    healthz_url      the kubelet's healthz (default ``DEFAULT_HEALTHZ_URL``)
    probes           {pod name: probe spec (``probe_spec.probe_spec_of``)}: set each running
                     static pod's ``ready`` from one attempt of its readiness probes (and
                     ``not_ready`` to why not), as status shows READY
    node_ip          the node's IP for hostNetwork probes, when the control host knows it
                     from the node's files (k3s's and rke2's node-ip) | absent: the agent's own
    restart_policies {pod name: restartPolicy}: each static pod's phase as the kubelet's
                     getPhase computes it with that policy (the runtime does not hold it;
                     a pod not named is read as ``runtime.pods.pod_phase`` says for None)
    pod_files        [absolute path]: the files that pods' changes write or remove
                     (``file_change``): the state of each in the answer's ``pod_files``

facts answer (``facts_answer``, ``read_facts_answer``)
    hostname, python ("3.6.9"), os_release {KEY: value}
    files       {path: text | null}: the "read" paths, the glob matches, the environment
                files and ``<dir>/<pod>.yaml`` of each manifest directory (not followed
                through a link)
    globs       {pattern: [path, sorted]}
    units       {unit: {systemd property: value, EnvironmentFiles and ExecStart as lists of
                lines, "cmdline": [word] of its MainPID | null}}
    dirs        {dir: {"exists", "entries": [{name, type, size?, mtime?, sha256?,
                pod_name?}], "unsafe": why root must not write there | null, "error"?}};
                types file, dir, symlink, fifo, char-device, block-device, socket
    kubelets    {unit: {pid, started, manifest_dir, source, config, config_mtime,
                config_changed, file_check_frequency (seconds | null)}}
                (``system.kubelet.running_kubelets``)
    owned       {manifest path: {pod, sha256}}: what spctl wrote
    pod_files   {path: file state}: the request's ``pod_files`` (``file_state``)
    owned_files {path: {pod, sha256}}: the pods' files spctl wrote (as ``owned``)
    backups     {pod: [backup file name, newest first]}
    runtime     runtime state (``runtime_state``, ``read_runtime_state``): where the pods
                were read and what they are
    healthz     bool
    lock        the node lock's holder ({holder, pid, ...}) | null
    journal     {id, holder, pid, started, phase} of a transaction another run is carrying
                out now | null
    recovered   what this call did to an unfinished transaction a killed run left
                (``transaction.recovery.recover``) | null

runtime state (``runtime_state``, ``read_runtime_state``)
    runtime      "cri" | "docker" | null: the kind of socket the pods were read from
    endpoint     that socket's endpoint ("unix:///run/containerd/containerd.sock") | null
    error        why no runtime answered | null
    cri_version  the CRI version the runtime answered in ("v1", "v1alpha2"); null for
                 Docker or when no runtime answered
    pods         [summary] (``runtime.pods.summarize``; ``ready``/``not_ready`` with probes)

apply request (``apply_request``, ``read_apply_request``)
    node_name           the kubelet's node name (a static pod is ``<pod>-<node_name>``)
    node_ip             as in the facts request (absent: the agent finds it)
    manifest_dir        the directory the changes are in (needed with changes or waits)
    holder              who holds the node lock, shown to other runs ("spctl")
    wait_lock           seconds to wait for another run's lock (0)
    timeout             seconds each pod may take to settle (300)
    stable_for          seconds a pod must stay up to count as running (5)
    changes             [pod change]: the manifests to write, in order
    wait_running        [wait]: pods left as they are that must run
    kubelet             kubelet change | null: its configuration, changed first
    planned_while_busy  bool: the facts were read while another run held the node; the
                        agent refuses with ``STALE_PLAN`` (after recovering, if it must)
    switch              bool: with a kubelet change, a change of source (directory <-> URL):
                        the kubelet is stopped while the files change, so that no running
                        kubelet sees one pod from both sources

pod change (``pod_change``, ``read_pod_change``)
    pod, action (one of ``ACTIONS``), file (its name in manifest_dir), content,
    expected_sha256 (of the file as planned; null: absent),
    from_path, from_sha256: a file the change retires (the pod's manifest in the directory
    the kubelet is moved away from); action ``move`` writes its bytes at ``file``,
    namespace (null: any), probes (the new pod's probe spec | null: waited for without),
    sources (the kubelet sources whose pods count: ["file"]; "http" for a manifest URL),
    restart_policy (the new pod's spec.restartPolicy, defaulted | null: not known),
    files ([file change]: the pod's files, written in the same transaction before its
    manifest, and removed after its pod is gone), kept_backup (bool: the version replaced
    is the same content, ``spctl restart``'s: its backup is kept apart from those a
    rollback brings back, as an adopt's is)

file change (``file_change``, ``read_file_change``): one file of a pod on the node
    path (absolute, normalised), action ("write" | "remove"), content_b64 (the bytes,
    base64, for "write"), sha256 (of those bytes), expected_sha256 (of the file as planned:
    null: absent), mode (the permission bits, an int), owner, group (a name or a number as
    text | null: root), secret (bool: the bytes are a secret: backups kept 0600, never in
    any answer or error)

file state (``file_state``, ``read_file_state``): a path as the node has it
    exists (bool), type ("file", "dir", "symlink", ... as in ``dirs``), sha256 (a regular
    file's | null), size, mode (permission bits), owner, group (names, else numbers as text),
    uid, gid (the numbers)

wait (``wait_for``, ``read_wait_for``): a bare pod name, or
    pod, file (default ``<pod>.yaml``), expected_sha256 (the file must still hold these
    bytes; absent: not checked; null: must be absent), sources, restart_policy

kubelet change (``kubelet_change``, ``read_kubelet_change``)
    unit, files [kubelet file], daemon_reload (bool), healthz_url, timeout (90),
    flag ([name, value | null]: the restarted kubelet must run with it), dir_before (the
    directory the kubelet watched), expect_dir (the one it must watch afterwards)
kubelet file (``kubelet_file``, ``read_kubelet_file``)
    path, content (text, lone surrogates for undecodable bytes), expected_sha256, mode

apply answer (``apply_answer``, ``read_apply_answer``)
    kubelet_restarted  bool
    kubelet_restored   bool (written only when true): the kubelet's configuration was put back
    pods               [pod result], the changes' then the waits'
    errors             [problem met while undoing] (written only when there are some)
    recovered          as in the facts answer (written only when there was a transaction)
pod result (``pod_result``, ``read_pod_result``)
    name, action ("unchanged" for a wait), ok, phase, error, rolled_back (written only
    when true), output (written only when there is some): [container output]
container output (``container_output``, ``read_container_output``): what a container that
    exited with a non-zero code wrote last (``runtime.container_logs``: its log file on a CRI
    node, the Engine's logs on a Docker node), as the node has it, not yet made safe for a
    terminal
    container, lines [text: the last ones, at most 20 and 4 KiB in all], cut (bool: older
    lines or the end of a long line were left out)
"""

#: ``read_wait_for``'s expected_sha256 when the request names none: any content will do.
ANY_CONTENT = object()


class MessageError(ValueError):
    """A request or an answer that lacks a field, or holds one of the wrong shape: the
    readers raise it naming the field, so a malformed message is refused in words."""


def _need(message, key, where):
    """``message[key]``; MessageError when ``message`` is no mapping or lacks it."""
    if not isinstance(message, dict):
        raise MessageError("%s is not a mapping" % where)
    if key not in message:
        raise MessageError("%s has no %r" % (where, key))
    return message[key]


def _list(message, key, where):
    """The list ``message[key]`` (absent: empty); MessageError for anything else."""
    value = message.get(key, [])
    if not isinstance(value, list):
        raise MessageError("%s.%s is not a list" % (where, key))
    return value


_KIND_NAMES = {str: "text", int: "a whole number"}


def _mapping(message, key, where):
    """The mapping ``message[key]`` (absent or null: empty); MessageError for anything else."""
    value = message.get(key) or {}
    if not isinstance(value, dict):
        raise MessageError("%s.%s is not a mapping" % (where, key))
    return value


def _absolute(path, where):
    """``path`` when it is an absolute, normalised path; MessageError otherwise."""
    import posixpath

    if not isinstance(path, str) or not path.startswith("/") or "\x00" in path:
        raise MessageError("%s is not an absolute path" % where)
    if posixpath.normpath(path) != path or path.startswith("//"):
        raise MessageError("%s is not a normalised path: %r" % (where, path))
    return path


def _optional(message, key, where, kind=str):
    """``message[key]`` when it is absent, null or of ``kind``; MessageError for anything
    else (a bool is no int)."""
    value = message.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MessageError("%s.%s is not %s" % (where, key, _KIND_NAMES[kind]))
    return value


def _string_map(message, key, where):
    """The mapping of strings to strings ``message[key]`` (absent or null: empty)."""
    value = message.get(key) or {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise MessageError("%s.%s is not a mapping of text to text" % (where, key))
    return value


# -- the envelope ------------------------------------------------------------------------------


def ok_answer(fields):
    """A successful answer: ``fields`` (an op's answer) with ok and no error."""
    answer = {"ok": True, "error": None}
    answer.update(fields)
    return answer


def error_answer(message):
    return {"ok": False, "error": message}


def read_status(answer):
    """(ok, error) of an answer."""
    return bool(answer.get("ok")), answer.get("error")


def read_op(request):
    """The op a request asks for (``OPS``), or whatever else it names."""
    return request.get("op")


# -- facts ---------------------------------------------------------------------------------------


def facts_request(
    *,
    pods=(),
    units=(),
    read=(),
    read_globs=(),
    read_env_files=False,
    manifest_dirs=(),
    healthz_url=None,
    probes=None,
    node_ip=None,
    restart_policies=None,
    pod_files=(),
):
    from . import OP_FACTS

    request = {
        "op": OP_FACTS,
        "pods": list(pods),
        "units": list(units),
        "read": list(read),
        "read_globs": list(read_globs),
        "read_env_files": bool(read_env_files),
        "manifest_dirs": list(manifest_dirs),
    }
    if healthz_url:
        request["healthz_url"] = healthz_url
    if probes:
        request["probes"] = probes
    if node_ip:
        request["node_ip"] = node_ip
    if restart_policies:
        request["restart_policies"] = dict(restart_policies)
    if pod_files:
        request["pod_files"] = list(pod_files)
    return request


def read_facts_request(request):
    from . import DEFAULT_HEALTHZ_URL

    return {
        "pods": request.get("pods") or [],
        "units": request.get("units") or [],
        "read": request.get("read") or [],
        "read_globs": request.get("read_globs") or [],
        "read_env_files": bool(request.get("read_env_files")),
        "manifest_dirs": request.get("manifest_dirs") or [],
        "healthz_url": request.get("healthz_url") or DEFAULT_HEALTHZ_URL,
        "probes": request.get("probes") or {},
        "node_ip": _optional(request, "node_ip", "facts request"),
        "restart_policies": _string_map(request, "restart_policies", "facts request"),
        "pod_files": [
            _absolute(path, "facts request.pod_files[%d]" % i)
            for i, path in enumerate(_list(request, "pod_files", "facts request"))
        ],
    }


def facts_answer(
    *,
    hostname,
    python,
    os_release,
    files,
    units,
    globs,
    dirs,
    kubelets,
    owned,
    backups,
    runtime,
    healthz,
    lock,
    journal,
    recovered,
    pod_files=None,
    owned_files=None,
):
    """``pod_files``: {path: ``file_state``}; ``owned_files``: {path: {pod, sha256}}."""
    return {
        "hostname": hostname,
        "python": python,
        "os_release": os_release,
        "files": files,
        "units": units,
        "globs": globs,
        "dirs": dirs,
        "kubelets": kubelets,
        "owned": owned,
        "backups": backups,
        "runtime": runtime,
        "healthz": healthz,
        "lock": lock,
        "journal": journal,
        "recovered": recovered,
        "pod_files": pod_files or {},
        "owned_files": owned_files or {},
    }


def read_facts_answer(answer):
    return {
        "hostname": str(answer.get("hostname", "")),
        "python": answer.get("python"),
        "os_release": answer.get("os_release") or {},
        "files": answer.get("files") or {},
        "units": answer.get("units") or {},
        "globs": answer.get("globs") or {},
        "dirs": answer.get("dirs") or {},
        "kubelets": answer.get("kubelets") or {},
        "owned": answer.get("owned") or {},
        "backups": answer.get("backups") or {},
        "runtime": read_runtime_state(answer.get("runtime") or {}),
        "healthz": bool(answer.get("healthz")),
        "lock": answer.get("lock"),
        "journal": answer.get("journal"),
        "recovered": answer.get("recovered"),
        "pod_files": {
            path: read_file_state(state, "facts answer.pod_files[%r]" % path)
            for path, state in _mapping(answer, "pod_files", "facts answer").items()
        },
        "owned_files": _mapping(answer, "owned_files", "facts answer"),
    }


def file_state(
    *,
    exists,
    type=None,
    sha256=None,
    size=None,
    mode=None,
    owner=None,
    group=None,
    uid=None,
    gid=None,
):
    """A path as the node has it (see the module's ``file state``)."""
    state = {"exists": bool(exists)}
    if exists:
        state.update({"type": type, "sha256": sha256, "size": size, "mode": mode, "owner": owner})
        state.update({"group": group, "uid": uid, "gid": gid})
    return state


def read_file_state(state, where="file state"):
    if not isinstance(state, dict):
        raise MessageError("%s is not a mapping" % where)
    return {
        "exists": bool(state.get("exists")),
        "type": _optional(state, "type", where),
        "sha256": _optional(state, "sha256", where),
        "size": _optional(state, "size", where, int),
        "mode": _optional(state, "mode", where, int),
        "owner": _optional(state, "owner", where),
        "group": _optional(state, "group", where),
        "uid": _optional(state, "uid", where, int),
        "gid": _optional(state, "gid", where, int),
    }


def runtime_state(*, runtime, endpoint, error=None, pods=(), cri_version=None):
    """``pods``: the summaries of ``runtime.pods.summarize``."""
    return {
        "runtime": runtime,
        "endpoint": endpoint,
        "error": error,
        "cri_version": cri_version,
        "pods": list(pods),
    }


def read_runtime_state(state, where="facts answer.runtime"):
    if not isinstance(state, dict):
        raise MessageError("%s is not a mapping" % where)
    pods = _list(state, "pods", where)
    for n, pod in enumerate(pods):
        if not isinstance(pod, dict):
            raise MessageError("%s.pods[%d] is not a mapping" % (where, n))
        for m, container in enumerate(_list(pod, "containers", "%s.pods[%d]" % (where, n))):
            at = "%s.pods[%d].containers[%d]" % (where, n, m)
            if not isinstance(container, dict):
                raise MessageError("%s is not a mapping" % at)
            _optional(container, "exit_code", at, int)
            _optional(container, "last_exit_code", at, int)
            _optional(container, "last_reason", at)
    return {
        "runtime": _optional(state, "runtime", where),
        "endpoint": _optional(state, "endpoint", where),
        "error": _optional(state, "error", where),
        "cri_version": _optional(state, "cri_version", where),
        "pods": pods,
    }


# -- apply ---------------------------------------------------------------------------------------


def apply_request(
    *,
    node_name,
    manifest_dir=None,
    holder="spctl",
    wait_lock=0.0,
    timeout=300.0,
    stable_for=5.0,
    changes=(),
    wait_running=(),
    kubelet=None,
    planned_while_busy=False,
    switch=False,
    node_ip=None,
):
    """``changes`` from ``pod_change``, ``wait_running`` from ``wait_for``, ``kubelet`` from
    ``kubelet_change``."""
    from . import OP_APPLY

    request = {
        "op": OP_APPLY,
        "node_name": node_name,
        "manifest_dir": manifest_dir,
        "holder": holder,
        "wait_lock": wait_lock,
        "timeout": timeout,
        "stable_for": stable_for,
        "changes": list(changes),
        "wait_running": list(wait_running),
        "planned_while_busy": bool(planned_while_busy),
        "switch": bool(switch),
    }
    if kubelet is not None:
        request["kubelet"] = kubelet
    if node_ip:
        request["node_ip"] = node_ip
    return request


def read_apply_request_head(request):
    """What the agent needs of an apply request before it takes the node's lock and finishes
    a killed run's transaction: who asks, how long to wait for the lock and for the pods,
    whether the plan is stale. The changes are read after that (``read_apply_request``), so
    that a malformed one never stops a recovery."""
    return {
        "node_name": _need(request, "node_name", "apply request"),
        "manifest_dir": request.get("manifest_dir"),
        "holder": request.get("holder", "spctl"),
        "wait_lock": float(request.get("wait_lock", 0)),
        "timeout": float(request.get("timeout", 300)),
        "stable_for": float(request.get("stable_for", 5)),
        "changes_pods": bool(request.get("changes") or request.get("wait_running")),
        "planned_while_busy": bool(request.get("planned_while_busy")),
        "switch": bool(request.get("switch")),
        "node_ip": _optional(request, "node_ip", "apply request"),
    }


def read_apply_request(request):
    head = read_apply_request_head(request)
    del head["changes_pods"]
    kubelet = request.get("kubelet")
    where = "apply request"
    head.update(
        {
            "changes": [
                read_pod_change(c, "%s.changes[%d]" % (where, i))
                for i, c in enumerate(_list(request, "changes", where))
            ],
            "wait_running": [
                read_wait_for(w, "%s.wait_running[%d]" % (where, i))
                for i, w in enumerate(_list(request, "wait_running", where))
            ],
            "kubelet": read_kubelet_change(kubelet) if kubelet else None,
        }
    )
    return head


def pod_change(
    *,
    pod,
    action,
    file,
    content="",
    expected_sha256=None,
    from_path=None,
    from_sha256=None,
    namespace=None,
    probes=None,
    sources=None,
    restart_policy=None,
    files=(),
    kept_backup=False,
):
    """``files`` from ``file_change``."""
    change = {
        "pod": pod,
        "file": file,
        "action": action,
        "content": content,
        "expected_sha256": expected_sha256,
    }
    if from_path:
        change.update({"from_path": from_path, "from_sha256": from_sha256})
    if namespace is not None:
        change["namespace"] = namespace
    if probes:
        change["probes"] = probes
    if sources is not None:
        change["sources"] = list(sources)
    if restart_policy is not None:
        change["restart_policy"] = restart_policy
    if files:
        change["files"] = list(files)
    if kept_backup:
        change["kept_backup"] = True
    return change


def read_pod_change(change, where="pod change"):
    return {
        "pod": _need(change, "pod", where),
        "action": _need(change, "action", where),
        "file": _need(change, "file", where),
        "content": change.get("content", ""),
        "expected_sha256": change.get("expected_sha256"),
        "from_path": change.get("from_path"),
        "from_sha256": change.get("from_sha256"),
        "namespace": change.get("namespace"),
        "probes": change.get("probes"),
        "sources": change.get("sources"),
        "restart_policy": _optional(change, "restart_policy", where),
        "files": [
            read_file_change(f, "%s.files[%d]" % (where, i))
            for i, f in enumerate(_list(change, "files", where))
        ],
        "kept_backup": bool(change.get("kept_backup")),
    }


#: What a file change does (``file_change``).
FILE_WRITE = "write"
FILE_REMOVE = "remove"


def file_change(
    *,
    path,
    action,
    content_b64=None,
    sha256=None,
    expected_sha256=None,
    mode=0o644,
    owner=None,
    group=None,
    secret=False,
):
    change = {
        "path": path,
        "action": action,
        "expected_sha256": expected_sha256,
        "mode": mode,
        "secret": bool(secret),
    }
    if content_b64 is not None:
        change.update({"content_b64": content_b64, "sha256": sha256})
    if owner is not None:
        change["owner"] = owner
    if group is not None:
        change["group"] = group
    return change


def read_file_change(change, where="file change"):
    """The change, its path absolute and normalised, a write with its bytes and their sha256,
    the mode a permission mask; MessageError naming the field otherwise. Never the bytes in
    an error: a secret's are not to be shown."""
    import base64
    import binascii
    import hashlib

    path = _absolute(_need(change, "path", where), where + ".path")
    action = _need(change, "action", where)
    if action not in (FILE_WRITE, FILE_REMOVE):
        raise MessageError("%s.action is %r, not write or remove" % (where, action))
    content_b64 = _optional(change, "content_b64", where)
    sha256 = _optional(change, "sha256", where)
    if action == FILE_WRITE:
        if content_b64 is None or sha256 is None:
            raise MessageError("%s: a write needs content_b64 and its sha256" % where)
        try:
            data = base64.b64decode(content_b64.encode("ascii"), validate=True)
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raise MessageError("%s.content_b64 is not base64" % where) from None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise MessageError("%s.sha256 is not the sha256 of its content" % where)
    mode = _optional(change, "mode", where, int)
    if mode is None or not 0 <= mode <= 0o7777:
        raise MessageError("%s.mode is not a permission mode (0 to 0o7777)" % where)
    return {
        "path": path,
        "action": action,
        "content_b64": content_b64,
        "sha256": sha256,
        "expected_sha256": _optional(change, "expected_sha256", where),
        "mode": mode,
        "owner": _optional(change, "owner", where),
        "group": _optional(change, "group", where),
        "secret": bool(change.get("secret")),
    }


def wait_for(*, pod, file=None, expected_sha256=ANY_CONTENT, sources=None, restart_policy=None):
    wait = {"pod": pod}
    if file is not None:
        wait["file"] = file
    if expected_sha256 is not ANY_CONTENT:
        wait["expected_sha256"] = expected_sha256
    if sources is not None:
        wait["sources"] = list(sources)
    if restart_policy is not None:
        wait["restart_policy"] = restart_policy
    return wait


def read_wait_for(wait, where="wait"):
    if isinstance(wait, str):
        wait = {"pod": wait}
    return {
        "pod": _need(wait, "pod", where),
        "file": wait.get("file"),
        "expected_sha256": wait.get("expected_sha256", ANY_CONTENT),  # absent: not checked
        "sources": wait.get("sources"),
        "restart_policy": _optional(wait, "restart_policy", where),
    }


def kubelet_change(
    *,
    unit,
    files,
    daemon_reload=False,
    healthz_url=None,
    timeout=90.0,
    flag=None,
    dir_before=None,
    expect_dir=None,
):
    """``files`` from ``kubelet_file``; ``flag`` (name, value | None) or None."""
    return {
        "unit": unit,
        "files": list(files),
        "daemon_reload": bool(daemon_reload),
        "healthz_url": healthz_url,
        "timeout": timeout,
        "flag": list(flag) if flag else None,
        "dir_before": dir_before,
        "expect_dir": expect_dir,
    }


def read_kubelet_change(change):
    from . import DEFAULT_HEALTHZ_URL

    where = "kubelet change"
    files = _need(change, "files", where)
    if not isinstance(files, list):
        raise MessageError("%s.files is not a list" % where)
    return {
        "unit": _need(change, "unit", where),
        "files": [read_kubelet_file(f, "%s.files[%d]" % (where, i)) for i, f in enumerate(files)],
        "daemon_reload": bool(change.get("daemon_reload")),
        "healthz_url": change.get("healthz_url") or DEFAULT_HEALTHZ_URL,
        "timeout": float(change.get("timeout", 90)),
        "flag": change.get("flag"),
        "dir_before": change.get("dir_before"),
        "expect_dir": change.get("expect_dir"),
    }


def kubelet_file(*, path, content, expected_sha256=None, mode=None):
    return {"path": path, "content": content, "expected_sha256": expected_sha256, "mode": mode}


def read_kubelet_file(entry, where="kubelet file"):
    return {
        "path": _need(entry, "path", where),
        "content": _need(entry, "content", where),
        "expected_sha256": entry.get("expected_sha256"),
        "mode": entry.get("mode"),
    }


def apply_answer(
    *, kubelet_restarted=False, pods=(), kubelet_restored=False, errors=(), recovered=None
):
    """``pods`` from ``pod_result``."""
    answer = {"kubelet_restarted": bool(kubelet_restarted), "pods": list(pods)}
    if kubelet_restored:
        answer["kubelet_restored"] = True
    if errors:
        answer["errors"] = list(errors)
    if recovered is not None:
        answer["recovered"] = recovered
    return answer


def read_apply_answer(answer):
    where = "apply answer"
    errors = _list(answer, "errors", where)
    if not all(isinstance(e, str) for e in errors):
        raise MessageError("%s.errors holds something other than text" % where)
    return {
        "kubelet_restarted": bool(answer.get("kubelet_restarted")),
        "pods": [
            read_pod_result(p, "%s.pods[%d]" % (where, i))
            for i, p in enumerate(_list(answer, "pods", where))
        ],
        "kubelet_restored": bool(answer.get("kubelet_restored")),
        "errors": errors,
        "recovered": answer.get("recovered"),
    }


def pod_result(*, name, action, ok, phase=None, error=None, rolled_back=False, output=()):
    """``output`` from ``container_output``."""
    result = {"name": name, "action": action, "ok": bool(ok), "phase": phase, "error": error}
    if rolled_back:
        result["rolled_back"] = True
    if output:
        result["output"] = list(output)
    return result


def read_pod_result(result, where="pod result"):
    return {
        "name": _need(result, "name", where),
        "action": _need(result, "action", where),
        "ok": bool(result.get("ok")),
        "phase": result.get("phase"),
        "error": result.get("error"),
        "rolled_back": bool(result.get("rolled_back")),
        "output": [
            read_container_output(o, "%s.output[%d]" % (where, i))
            for i, o in enumerate(_list(result, "output", where))
        ],
    }


def container_output(*, container, lines, cut=False):
    return {"container": container, "lines": list(lines), "cut": bool(cut)}


def read_container_output(output, where="container output"):
    lines = _need(output, "lines", where)
    if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
        raise MessageError("%s.lines is not a list of text" % where)
    return {
        "container": str(_need(output, "container", where)),
        "lines": lines,
        "cut": bool(output.get("cut")),
    }
