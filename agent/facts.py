"""The facts call: what the node is, read and never changed."""

import json
import os
import re
import sys

from .files import read_text, sha256_bytes
from .kubelet import kubelet_dirs
from .lock import lock_holder
from .manifests import KEEP_BACKUPS, backups_of
from .protocol import DEFAULT_HEALTHZ_URL, MANIFEST_SUFFIX, MAX_MANIFEST_BYTES
from .state import load_state
from .systemd import environment_file_paths, kubelet_cmdlines

#: The most the agent reads of one configuration file (the kubelet's own limit for a
#: manifest; no configuration file spctl reads comes near it).
MAX_CONFIG_BYTES = MAX_MANIFEST_BYTES


def os_release():
    text = read_text("/etc/os-release") or read_text("/usr/lib/os-release") or ""
    result = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            result[key.strip()] = value.strip().strip('"')
    return result


def dir_listing(directory):
    """Every entry of a manifest directory, as the kubelet would see it."""
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return {"exists": False, "entries": []}
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
        if os.path.isdir(path):
            entry["type"] = "dir"
        elif os.path.islink(path) and not os.path.exists(path):
            entry["type"] = "broken-link"
        else:
            entry["type"] = "file"
            entry["size"] = st.st_size
            entry["mtime"] = st.st_mtime
            if st.st_size <= MAX_MANIFEST_BYTES and not name.startswith("."):
                try:
                    with open(path, "rb") as fh:
                        data = fh.read()
                except OSError:
                    data = None
                if data is not None:
                    entry["sha256"] = sha256_bytes(data)
                    entry["pod_name"] = guess_pod_name(data)
        entries.append(entry)
    return {"exists": True, "entries": entries}


def guess_pod_name(data):
    """metadata.name of a manifest, without a YAML parser (the agent has only the standard
    library): JSON exactly, block-style YAML by pattern. Used to warn about two files that
    define the same pod, so a miss only costs a warning."""
    try:
        doc = json.loads(data.decode("utf-8", "replace"))
        return doc.get("metadata", {}).get("name") if isinstance(doc, dict) else None
    except ValueError:
        pass
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


def read_capped(path):
    """The file as text, or None when it cannot be read or is larger than MAX_CONFIG_BYTES."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError:
        return None
    if len(data) > MAX_CONFIG_BYTES:
        return None
    return data.decode("utf-8", errors="replace")


#: Settings whose values spctl never needs and must not carry off the node: k3s's
#: ``K3S_TOKEN`` (install.sh writes it into the unit's environment file) and ``token:``,
#: ``agent-token``, ``etcd-s3-secret-key``, ``datastore-endpoint`` (it may hold a password) in
#: its config files, and their like elsewhere.
_SECRET_WORDS = ("token", "passw", "secret", "key", "endpoint", "credential")
_SETTING = re.compile(r"^(\s*(?:export\s+)?[\"']?)([A-Za-z0-9_.+-]+)([\"']?\s*[=:]\s*)(\S.*)$")


def redact(text):
    """``text`` with the value of every ``KEY=value`` or ``key: value`` line whose key names a
    secret replaced; every other line as it was."""
    if text is None:
        return None
    lines = []
    for line in text.splitlines(True):
        match = _SETTING.match(line)
        if match and any(w in match.group(2).lower() for w in _SECRET_WORDS):
            end = "\n" if line.endswith("\n") else ""
            line = match.group(1) + match.group(2) + match.group(3) + "REDACTED-BY-SPCTL" + end
        lines.append(line)
    return "".join(lines)


def read_globs(patterns):
    """{pattern: [matching regular files, sorted]} and {path: text} for each of them
    (``config.yaml.d/*`` drop-in directories, read in the order their owner reads them),
    secrets redacted: spctl reads these files and never writes them."""
    import glob

    matched, texts = {}, {}
    for pattern in patterns:
        paths = sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
        matched[pattern] = paths
        for path in paths:
            texts[path] = redact(read_capped(path))
    return matched, texts


def facts(node, request):
    state = load_state(node)
    pods_wanted = request.get("pods") or []
    units = node.systemd.show(request.get("units") or [])
    manifest_dirs = []
    for d in (request.get("manifest_dirs") or []) + kubelet_dirs(units):
        if d not in manifest_dirs:
            manifest_dirs.append(d)
    files = {path: read_text(path) for path in request.get("read") or []}
    if request.get("read_env_files"):
        for props in units.values():
            for path in environment_file_paths(props):
                if path not in files:  # a file to edit is in "read", verbatim
                    files[path] = redact(read_capped(path))
    globs, globbed = read_globs(request.get("read_globs") or [])
    files.update(globbed)
    for d in manifest_dirs:
        for pod in pods_wanted:
            path = os.path.join(d, pod + MANIFEST_SUFFIX)
            files[path] = read_text(path)
    if units:
        node.choose_runtime(kubelet_cmdlines(units))
    return {
        "hostname": os.uname()[1],
        "python": "%d.%d.%d" % sys.version_info[:3],
        "os_release": os_release(),
        "files": files,
        "units": units,
        "globs": globs,
        "dirs": {d: dir_listing(d) for d in manifest_dirs},
        "owned": state["manifests"],
        "backups": {pod: backups_of(node, pod)[:KEEP_BACKUPS] for pod in pods_wanted},
        "runtime": node.pods(),
        "healthz": node.healthz(request.get("healthz_url") or DEFAULT_HEALTHZ_URL),
        "lock": lock_holder(node),
    }
