"""The facts call: what the node is, read and never changed."""

import os
import sys

from .protocol import MANIFEST_SUFFIX, MAX_MANIFEST_BYTES, messages
from .protocol.systemd_show import environment_file_paths
from .system.files import (
    MAX_READ,
    NotRegularFile,
    TooLarge,
    file_type,
    path_state,
    read_file,
    read_text,
    sha256_bytes,
    unsafe_directory,
)
from .system.jsonfast import loads
from .system.kubelet import kubelet_dirs, running_kubelets
from .system.lock import NodeLock, lock_holder
from .system.state import KEEP_BACKUPS, backups_of, load_state
from .system.systemd import kubelet_cmdlines

#: The most the agent reads of one configuration file (the kubelet's own limit for a
#: manifest; no configuration file spctl reads comes near it).


def os_release():
    text = read_text("/etc/os-release") or read_text("/usr/lib/os-release") or ""
    result = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            result[key.strip()] = value.strip().strip('"')
    return result


def dir_listing(directory, trusted_above=None):
    """Every entry of a manifest directory, as the kubelet would see it. Only regular
    files are opened (see ``system.files``); a symlink, FIFO or device is reported by its type."""
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return {
            "exists": False,
            "entries": [],
            "unsafe": unsafe_directory(directory, trusted_above),
        }
    except OSError as exc:
        return {"exists": True, "error": str(exc), "entries": []}
    entries = []
    for name in names:
        path = os.path.join(directory, name)
        entry = {"name": name}
        try:
            st = os.lstat(path)
        except OSError:
            continue
        entry["type"] = file_type(st.st_mode)
        if entry["type"] == "file":
            entry["size"] = st.st_size
            entry["mtime"] = st.st_mtime
            if st.st_size <= MAX_MANIFEST_BYTES and not name.startswith("."):
                try:
                    data = read_file(path, limit=MAX_READ)[0]
                except TooLarge:
                    data, entry["size"] = None, MAX_READ
                except NotRegularFile as exc:  # swapped since the lstat
                    data, entry["type"] = None, exc.kind
                except OSError:
                    data = None
                if data is not None:
                    entry["sha256"] = sha256_bytes(data)
                    entry["pod_name"] = guess_pod_name(data)
        entries.append(entry)
    return {
        "exists": True,
        "entries": entries,
        "unsafe": unsafe_directory(directory, trusted_above),
    }


def guess_pod_name(data):
    """metadata.name of a manifest, without a YAML parser (the agent has only the standard
    library): JSON exactly, block-style YAML by pattern. Used to warn about two files that
    define the same pod, so a miss only costs a warning."""
    try:
        doc = loads(data.decode("utf-8", "replace"))
    except ValueError:
        pass
    else:
        # Any JSON at all may sit in a listed directory: only a string name counts.
        meta = doc.get("metadata") if isinstance(doc, dict) else None
        name = meta.get("name") if isinstance(meta, dict) else None
        return name if isinstance(name, str) else None
    lines = data.decode("utf-8", "replace").splitlines()
    for i, line in enumerate(lines):
        if line.rstrip() != "metadata:":
            continue
        indent = None
        for child in lines[i + 1 :]:
            stripped = child.lstrip(" ")
            if not stripped or stripped.startswith("#"):
                continue
            depth = len(child) - len(stripped)
            if depth == 0:
                break
            if indent is None:
                indent = depth
            if depth == indent and stripped.startswith("name:"):
                return stripped[5:].split("#")[0].strip().strip("'\"") or None
        break
    return None


#: Settings whose values spctl never needs and must not carry off the node: k3s's
#: ``K3S_TOKEN`` (install.sh writes it into the unit's environment file) and ``token:``,
#: ``agent-token``, ``etcd-s3-secret-key``, ``datastore-endpoint`` (it may hold a password) in
#: its config files, and their like elsewhere.
_SECRET_WORDS = ("token", "passw", "secret", "key", "endpoint", "credential")
_SETTING = r"^(\s*(?:export\s+)?[\"']?)([A-Za-z0-9_.+-]+)([\"']?\s*[=:]\s*)(\S.*)$"


def redact(text):
    """``text`` with the value of every ``KEY=value`` or ``key: value`` line whose key names a
    secret replaced; every other line as it was."""
    if text is None:
        return None
    lowered = text.lower()
    if not any(w in lowered for w in _SECRET_WORDS):
        return text  # no key can name a secret: nothing to replace, and no ``re`` to import
    import re

    setting = re.compile(_SETTING)
    lines = []
    for line in text.splitlines(True):
        match = setting.match(line)
        if match and any(w in match.group(2).lower() for w in _SECRET_WORDS):
            end = "\n" if line.endswith("\n") else ""
            line = match.group(1) + match.group(2) + match.group(3) + "REDACTED-BY-SPCTL" + end
        lines.append(line)
    return "".join(lines)


def read_globs(patterns):
    """{pattern: [matching regular files, sorted]} and {path: text} for each of them
    (``config.yaml.d/*`` drop-in directories, read in the order their owner reads them),
    secrets redacted: spctl reads these files and never writes them."""
    matched, texts = {}, {}
    for pattern in patterns:
        paths = sorted(p for p in _glob(pattern) if os.path.isfile(p))
        matched[pattern] = paths
        for path in paths:
            texts[path] = redact(read_text(path))
    return matched, texts


def _glob(pattern):
    """glob.glob(pattern) for the patterns facts are asked (a file, or ``DIR/*``) without
    importing glob (it imports re): a name without wildcards is itself when it exists;
    ``*`` is every name in DIR not starting with a dot. Any other pattern is glob's."""
    magic = any(c in pattern for c in "*?[")
    if not magic:
        return [pattern] if os.path.lexists(pattern) else []
    directory, name = os.path.split(pattern)
    if name == "*" and directory and not any(c in directory for c in "*?["):
        try:
            names = os.listdir(directory)
        except OSError:
            return []
        return [os.path.join(directory, n) for n in names if not n.startswith(".")]
    import glob

    return glob.glob(pattern)


FACTS_RECOVERY_WAIT = 60.0


def recover_first(node):
    """Finish or undo a transaction a killed run left (see ``transaction.recovery``), under
    the node lock. Returns (recovered, in_progress): what was done, or the journal of a run
    that holds the lock now. Without a journal this costs one lstat."""
    if not os.path.lexists(node.paths.journal_file):
        return None, None
    from .transaction.journal import load as load_journal
    from .transaction.recovery import recover

    lock = NodeLock(node, "spctl facts (recovery)", 0)
    if not lock.try_enter():
        found = load_journal(node)
        return None, found.record if found is not None else None
    try:
        found = load_journal(node)
        # A read-only call answers within the control host's deadline for facts (120s):
        # files and kubelet go back at once, the wait for the pods is capped.
        recovered = recover(node, found, FACTS_RECOVERY_WAIT) if found else None
        return recovered, None
    finally:
        lock.__exit__(None, None, None)


def facts(node, request):
    request = messages.read_facts_request(request)
    recovered, in_progress = recover_first(node)
    state = load_state(node)
    pods_wanted = request["pods"]
    units = node.systemd.show(request["units"])
    manifest_dirs = []
    for d in request["manifest_dirs"] + kubelet_dirs(units):
        if d not in manifest_dirs:
            manifest_dirs.append(d)
    # Configuration files keep every byte (an environment file may hold any): the control
    # host hashes and rewrites them exactly. Manifests are never followed through links.
    files = {path: read_text(path, errors="surrogateescape") for path in request["read"]}
    if request["read_env_files"]:
        for props in units.values():
            for path in environment_file_paths(props):
                if path not in files:  # a file to edit is in "read", verbatim
                    files[path] = redact(read_text(path))
    globs, globbed = read_globs(request["read_globs"])
    files.update(globbed)
    for d in manifest_dirs:
        for pod in pods_wanted:
            path = os.path.join(d, pod + MANIFEST_SUFFIX)
            files[path] = read_text(path, follow=False)
    if units:
        node.choose_runtime(kubelet_cmdlines(units))
    runtime = node.pods()
    if request["restart_policies"]:
        from .runtime import pods as podlib

        for pod in runtime.get("pods") or []:
            podlib.with_policy(pod, podlib.policy_for(pod["pod"], request["restart_policies"]))
    if request["probes"]:
        # READY as the pods' readiness probes say it: one attempt each, now.
        from .probes.prober import mark_ready
        from .probes.runner import NodeRunner

        # The node IP the control host sent, else the kubelet units' command lines (read
        # above) give a hostNetwork pod's IP.
        node.node_ip = request["node_ip"]
        runner = NodeRunner(node, kubelet_cmdlines(units) if units else None)
        mark_ready(runtime.get("pods") or [], request["probes"], runner, pods_wanted)
    return messages.facts_answer(
        hostname=os.uname()[1],
        python="%d.%d.%d" % sys.version_info[:3],
        os_release=os_release(),
        files=files,
        units=units,
        globs=globs,
        dirs={d: dir_listing(d, node.trusted_above) for d in manifest_dirs},
        kubelets=running_kubelets(units, node.process_start),
        owned=state["manifests"],
        backups={pod: backups_of(node, pod)[:KEEP_BACKUPS] for pod in pods_wanted},
        runtime=runtime,
        healthz=node.healthz(request["healthz_url"]),
        lock=lock_holder(node),
        journal=_summary(in_progress),
        recovered=recovered,
        pod_files={path: pod_file_state(path) for path in request["pod_files"]},
        owned_files=state["files"],
    )


def pod_file_state(path):
    """A pod's file as the node has it (``messages.file_state``), never through a link;
    a path that cannot be looked at (a loop of links above it) is there as "other"."""
    try:
        found = path_state(path)
    except OSError:
        return messages.file_state(exists=True, type="other")
    if not found["exists"]:
        return messages.file_state(exists=False)
    from .system.owners import group_name, user_name

    return messages.file_state(
        exists=True,
        type=found["type"],
        sha256=found["sha256"],
        size=found["size"],
        mode=found["mode"],
        owner=user_name(found["uid"]),
        group=group_name(found["gid"]),
        uid=found["uid"],
        gid=found["gid"],
    )


def _summary(record):
    if record is None:
        return None
    return {k: record.get(k) for k in ("id", "holder", "pid", "started", "phase")}
