#!/usr/bin/env python3
"""spctl node agent: the only reader and writer of static pod state on a node.

spctl pushes this file to /var/lib/spctl/ (named by its content hash) and runs it with the
node's own python3 (3.8 or newer; standard library only). Each call reads one JSON request
from stdin (the last non-empty line) and writes one JSON answer to stdout.

    facts     what the node is: os-release, kubelet units and their command lines, config
              files, manifest directories with a sha256 per file, the static pods the
              container runtime runs, the files spctl owns, the backups it keeps.
    apply     a plan made by the control host: lock the node, check nothing moved since
              facts, change the kubelet configuration (restart, wait for healthz, restore
              on failure), then per pod: back up, stage, rename into place, wait for the
              new pod to run and stay up, roll back on failure.

Run it by hand to debug a node:  echo '{"op": "facts"}' | sudo python3 /var/lib/spctl/agent_*.py
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import traceback
import urllib.parse

STATE_DIR = "/var/lib/spctl"
STATE_FILE = STATE_DIR + "/state.json"
LOCK_FILE = STATE_DIR + "/lock"
BACKUP_DIR = STATE_DIR + "/backups"
KEEP_BACKUPS = 5
MAX_MANIFEST_BYTES = 10 * 1024 * 1024
DOCKER_SOCKET = "/var/run/docker.sock"
DEFAULT_HEALTHZ = "http://127.0.0.1:10248/healthz"
UNIT_PROPERTIES = (
    "LoadState,ActiveState,SubState,FragmentPath,DropInPaths,EnvironmentFiles,MainPID,"
    "InvocationID,NRestarts"
)


class AgentError(Exception):
    pass


def run_command(argv: list, timeout: float) -> str:
    """stdout of argv, or an AgentError that names the command and says what went wrong."""
    try:
        proc = subprocess.run(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise AgentError("%s did not finish within %ds" % (" ".join(argv), timeout)) from None
    if proc.returncode != 0:
        raise AgentError("%s failed: %s" % (" ".join(argv), proc.stderr.strip()))
    return proc.stdout


def flag_value(cmdline: list, name: str):
    """The value of ``--name=value`` or ``--name value`` on a command line (the last wins)."""
    value = None
    for i, arg in enumerate(cmdline):
        if arg.startswith(name + "="):
            value = arg[len(name) + 1 :]
        elif arg == name and i + 1 < len(cmdline):
            value = cmdline[i + 1]
    return value


# -- small file helpers -------------------------------------------------------------------------


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_text(path: str):
    try:
        with open(path, "rb") as fh:
            return fh.read().decode("utf-8", errors="replace")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        return None if exc.errno in (errno.ENOENT, errno.EACCES) else None


def fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str, data: bytes, mode: int = 0o644) -> None:
    """Write ``path`` so that no reader ever sees a partial file.

    The temporary file is dot-prefixed in the same directory: the kubelet ignores names
    starting with a dot, and rename(2) within one filesystem is atomic. On any failure the
    temporary file is removed and the old file is untouched.
    """
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, ".%s.spctl-%d.tmp" % (name, os.getpid()))
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, mode)
        os.rename(tmp, path)
        fsync_dir(directory)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def remove_stale_temporaries(directory: str) -> None:
    """Remove our temporary files left by an agent that was killed mid-write."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if name.startswith(".") and ".spctl-" in name and name.endswith(".tmp"):
            try:
                os.unlink(os.path.join(directory, name))
            except OSError:
                pass


def load_state() -> dict:
    text = read_text(STATE_FILE)
    if not text:
        return {"manifests": {}}
    try:
        state = json.loads(text)
    except ValueError:
        return {"manifests": {}}
    state.setdefault("manifests", {})
    return state


def save_state(state: dict) -> None:
    os.makedirs(STATE_DIR, mode=0o700, exist_ok=True)
    atomic_write(STATE_FILE, json.dumps(state, indent=1, sort_keys=True).encode(), 0o600)


# -- facts: the node ----------------------------------------------------------------------------


def os_release() -> dict:
    text = read_text("/etc/os-release") or read_text("/usr/lib/os-release") or ""
    result = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            result[key.strip()] = value.strip().strip('"')
    return result


def unit_facts(units) -> dict:
    if not units or shutil.which("systemctl") is None:
        return {}
    proc = subprocess.run(
        ["systemctl", "show", "--no-pager", "-p", UNIT_PROPERTIES]
        + ["%s.service" % u for u in units],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        timeout=30,
    )
    blocks = proc.stdout.split("\n\n")
    result = {}
    for unit, block in zip(units, blocks):
        props = {}
        for line in block.splitlines():
            key, _, value = line.partition("=")
            props[key] = value
        pid = int(props.get("MainPID") or 0)
        props["cmdline"] = process_cmdline(pid) if pid else None
        result[unit] = props
    return result


def process_cmdline(pid: int):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def dir_listing(directory: str) -> dict:
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


def guess_pod_name(data: bytes):
    """metadata.name of a manifest, without a YAML parser (the agent has only the standard
    library): JSON exactly, block-style YAML by pattern. Used to warn about two files that
    define the same pod, so a miss only costs a warning."""
    try:
        doc = json.loads(data)
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


def healthz(url: str) -> bool:
    """True when the kubelet's healthz URL (http://HOST:PORT/PATH) answers 200."""
    match = re.match(r"http://([^/:]+)(?::(\d+))?(/.*)?$", url)
    if not match:
        return False
    host, port, path = match.group(1), int(match.group(2) or 80), match.group(3) or "/"
    try:
        return http_get((host, port), path, timeout=2)[0] == 200
    except (OSError, AgentError):
        return False


def backups_of(pod: str) -> list:
    directory = os.path.join(BACKUP_DIR, "manifests", pod)
    try:
        return sorted((n for n in os.listdir(directory) if n.endswith(".yaml")), reverse=True)
    except OSError:
        return []


# -- facts: the container runtime ---------------------------------------------------------------


def http_get(address, path: str, timeout: float = 10.0):
    """(status, body) of an HTTP/1.0 GET to a unix socket path or a (host, port) pair.

    The kubelet's healthz and the Docker Engine API need no more than this, and
    http.client would double the agent's start-up time (it imports the email package).
    HTTP/1.0 keeps answers unchunked; the server closes the connection at the end.
    """
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(address)
        sock.sendall(("GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n" % path).encode())
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        sock.close()
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    try:
        status = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        raise AgentError("malformed HTTP answer from %s" % (address,)) from None
    return status, body


def docker_containers(socket_path: str) -> list:
    query = urllib.parse.quote(json.dumps({"label": ["io.kubernetes.pod.name"]}))
    status, body = http_get(socket_path, "/containers/json?all=1&filters=" + query)
    if status != 200:
        raise AgentError("docker API answered %d: %s" % (status, body[:200]))
    return json.loads(body)


_EXITED = re.compile(r"Exited \((-?\d+)\)")


def pods_from_docker(containers: list) -> dict:
    """Group dockershim / cri-dockerd containers into pods, keyed by namespace/name/uid."""
    pods = {}
    for c in containers:
        labels = c.get("Labels") or {}
        key = (
            labels.get("io.kubernetes.pod.namespace", "default"),
            labels["io.kubernetes.pod.name"],
            labels.get("io.kubernetes.pod.uid", ""),
        )
        pod = pods.setdefault(key, {"sandbox": None, "containers": {}, "annotations": {}})
        name = (c.get("Names") or ["?"])[0].lstrip("/")
        attempt = _attempt(name)
        state = c.get("State", "unknown")
        exit_match = _EXITED.search(c.get("Status", ""))
        record = {
            "id": c.get("Id", "")[:12],
            "state": state,
            "attempt": attempt,
            "created": c.get("Created"),
            "exit_code": int(exit_match.group(1)) if exit_match else None,
        }
        if labels.get("io.kubernetes.docker.type") == "podsandbox":
            if pod["sandbox"] is None or attempt >= pod["sandbox"]["attempt"]:
                pod["sandbox"] = record
                pod["annotations"] = {
                    k[len("annotation.") :]: v
                    for k, v in labels.items()
                    if k.startswith("annotation.")
                }
        else:
            cname = labels.get("io.kubernetes.container.name", "?")
            current = pod["containers"].get(cname)
            if current is None or attempt >= current["attempt"]:
                pod["containers"][cname] = record
    return pods


def _attempt(name: str) -> int:
    tail = name.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else 0


# Where distributions put crictl when it is not on PATH (sudo's secure_path often hides
# /usr/local/bin), and the crictl configuration that points it at their containerd.
CRICTL_DIRS = (
    "/usr/local/bin",
    "/usr/bin",
    "/var/lib/rancher/rke2/bin",
    "/var/lib/rancher/k3s/data/current/bin",
)
CRICTL_CONFIGS = (
    "/var/lib/rancher/k3s/agent/etc/crictl.yaml",
    "/var/lib/rancher/rke2/agent/etc/crictl.yaml",
)


def find_crictl():
    return shutil.which("crictl") or shutil.which("crictl", path=os.pathsep.join(CRICTL_DIRS))


def pods_from_crictl() -> dict:
    binary = find_crictl()
    config = [c for c in CRICTL_CONFIGS if os.path.exists(c)]
    base = [binary] + (
        ["--config", config[0]] if config and not os.path.exists("/etc/crictl.yaml") else []
    )

    def crictl(*args):
        return json.loads(run_command(base + list(args), timeout=30) or "{}")

    pods = {}
    by_sandbox = {}
    for item in crictl("pods", "-o", "json").get("items", []):
        meta = item.get("metadata", {})
        key = (meta.get("namespace", "default"), meta.get("name", "?"), meta.get("uid", ""))
        state = "running" if item.get("state") == "SANDBOX_READY" else "exited"
        pods[key] = {
            "sandbox": {
                "id": item.get("id", "")[:12],
                "state": state,
                "attempt": meta.get("attempt", 0),
                "created": int(item.get("createdAt", 0)) // 10**9,
                "exit_code": None,
            },
            "containers": {},
            "annotations": item.get("annotations", {}),
        }
        by_sandbox[item.get("id")] = key
    for item in crictl("ps", "-a", "-o", "json").get("containers", []):
        key = by_sandbox.get(item.get("podSandboxId"))
        if key is None:
            continue
        meta = item.get("metadata", {})
        state = {"CONTAINER_RUNNING": "running", "CONTAINER_CREATED": "created"}.get(
            item.get("state"), "exited"
        )
        record = {
            "id": item.get("id", "")[:12],
            "state": state,
            "attempt": meta.get("attempt", 0),
            "created": int(item.get("createdAt", 0)) // 10**9,
            "exit_code": None,
        }
        current = pods[key]["containers"].get(meta.get("name"))
        if current is None or record["attempt"] >= current["attempt"]:
            pods[key]["containers"][meta.get("name")] = record
    return pods


def runtime_pods() -> dict:
    """Static pods as the container runtime shows them: {"runtime", "error", "pods": [...]}."""
    sources = []
    if os.path.exists(DOCKER_SOCKET):
        sources.append(("docker", lambda: pods_from_docker(docker_containers(DOCKER_SOCKET))))
    if find_crictl():
        sources.append(("crictl", pods_from_crictl))
    if not sources:
        return {
            "runtime": None,
            "error": "no container runtime found (docker socket or crictl)",
            "pods": [],
        }
    errors = []
    answers = []
    for runtime, read in sources:
        try:
            grouped = read()
        except Exception as exc:  # a runtime that does not answer is a fact, not a crash
            errors.append("%s: %s" % (runtime, exc))
            continue
        pods = [
            summarize_pod(ns, name, uid, pod) for (ns, name, uid), pod in sorted(grouped.items())
        ]
        answers.append({"runtime": runtime, "error": None, "pods": pods})
    # A node may have docker installed beside a containerd kubelet: the runtime that shows
    # Kubernetes pods is the kubelet's.
    for answer in answers:
        if answer["pods"]:
            return answer
    if answers:
        return answers[0]
    return {"runtime": None, "error": "; ".join(errors), "pods": []}


def summarize_pod(namespace: str, name: str, uid: str, pod: dict) -> dict:
    containers = [
        {
            "name": cname,
            "state": c["state"],
            "restarts": c["attempt"],
            "exit_code": c["exit_code"],
            "created": c["created"],
        }
        for cname, c in sorted(pod["containers"].items())
    ]
    sandbox = pod["sandbox"]
    sandbox_up = sandbox is not None and sandbox["state"] == "running"
    all_running = bool(containers) and all(c["state"] == "running" for c in containers)
    if sandbox_up and all_running:
        phase = "Running"
    elif not sandbox_up and containers and all(c["state"] != "running" for c in containers):
        phase = "Failed" if any((c["exit_code"] or 0) != 0 for c in containers) else "Succeeded"
    else:
        phase = "Pending"
    return {
        "pod": name,
        "namespace": namespace,
        "uid": uid,
        "phase": phase,
        "ready": phase == "Running",
        "restarts": sum(c["restarts"] for c in containers),
        "created": sandbox["created"] if sandbox else None,
        "annotations": pod.get("annotations", {}),
        "containers": containers,
    }


def kubelet_dirs(units: dict) -> list:
    """Manifest directories the running kubelets were started with: --pod-manifest-path,
    or staticPodPath in their --config file."""
    found = []
    for props in units.values():
        cmdline = props.get("cmdline") or []
        path = flag_value(cmdline, "--pod-manifest-path")
        if path:
            found.append(path.rstrip("/") or "/")
        config = flag_value(cmdline, "--config")
        if config:
            match = re.search(
                r"^staticPodPath:\s*['\"]?([^'\"\s#]+)", read_text(config) or "", re.M
            )
            if match:
                found.append(match.group(1).rstrip("/") or "/")
    return found


def facts(request: dict) -> dict:
    state = load_state()
    pods_wanted = request.get("pods") or []
    units = unit_facts(request.get("units") or [])
    manifest_dirs = []
    for d in (request.get("manifest_dirs") or []) + kubelet_dirs(units):
        if d not in manifest_dirs:
            manifest_dirs.append(d)
    files = {path: read_text(path) for path in request.get("read") or []}
    for d in manifest_dirs:
        for pod in pods_wanted:
            path = os.path.join(d, pod + ".yaml")
            files[path] = read_text(path)
    return {
        "hostname": socket.gethostname(),
        "python": "%d.%d.%d" % sys.version_info[:3],
        "os_release": os_release(),
        "files": files,
        "units": units,
        "dirs": {d: dir_listing(d) for d in manifest_dirs},
        "owned": state["manifests"],
        "backups": {pod: backups_of(pod)[:KEEP_BACKUPS] for pod in pods_wanted},
        "runtime": runtime_pods(),
        "healthz": healthz(request.get("healthz_url") or DEFAULT_HEALTHZ),
        "lock": lock_holder(),
    }


# -- the lock -----------------------------------------------------------------------------------


def lock_holder():
    """Who holds the node lock, or None. Only reads: taking the lock to test it would make
    a concurrent deploy fail for no reason."""
    text = read_text(LOCK_FILE + ".holder")
    if not text:
        return None
    try:
        holder = json.loads(text)
    except ValueError:
        return {"holder": text.strip()}
    pid = holder.get("pid") if isinstance(holder, dict) else None
    if isinstance(pid, int) and not os.path.exists("/proc/%d" % pid):
        return None  # left by an agent that was killed; the kernel released its flock
    return holder


class NodeLock:
    """One spctl run at a time per node: flock(2) on a file, released by the kernel when
    the agent exits, however it exits; a side file names the holder for the others."""

    def __init__(self, holder: str, wait: float) -> None:
        self.holder = holder
        self.wait = wait
        self.fd = -1

    def __enter__(self) -> NodeLock:
        os.makedirs(STATE_DIR, mode=0o700, exist_ok=True)
        self.fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    os.close(self.fd)
                    other = lock_holder() or {"holder": "another spctl run"}
                    raise AgentError(
                        "node is locked by %s (since %s); wait for it to finish or rerun with "
                        "--wait-lock SECONDS" % (other.get("holder"), other.get("since", "?"))
                    ) from None
                time.sleep(0.2)
        atomic_write(
            LOCK_FILE + ".holder",
            json.dumps(
                {
                    "holder": self.holder,
                    "pid": os.getpid(),
                    "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                }
            ).encode(),
            0o600,
        )
        return self

    def __exit__(self, *exc) -> None:
        try:
            os.unlink(LOCK_FILE + ".holder")
        except OSError:
            pass
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


# -- apply: the kubelet configuration ----------------------------------------------------------


def systemctl(*args: str) -> None:
    run_command(["systemctl"] + list(args), timeout=120)


def wait_healthy(unit: str, url: str, timeout: float) -> bool:
    """True once the unit is active and the kubelet's healthz answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        active = (
            subprocess.run(["systemctl", "is-active", "--quiet", unit + ".service"]).returncode == 0
        )
        if active and healthz(url):
            return True
        time.sleep(0.5)
    return False


def kubelet_took_change(unit: str, url: str, flag):
    """None when the restarted kubelet stays up and runs with the new flag, else why not.

    A healthy kubelet is not enough: one that never read the edited file (a wrong profile,
    a unit that does not load that file) would run on without the change.
    """
    pid = unit_facts([unit]).get(unit, {}).get("MainPID", "0")
    time.sleep(2)  # a kubelet that dies right after its first healthz answer is not healthy
    again = unit_facts([unit]).get(unit, {})
    if again.get("MainPID") != pid or again.get("ActiveState") != "active" or not healthz(url):
        return "the kubelet did not stay up after the configuration change"
    if not flag:
        return None
    name, value = flag
    seen = flag_value(again.get("cmdline") or [], name)
    if (seen or "").rstrip("/") == (value or "").rstrip("/") and (seen is None) == (value is None):
        return None
    expected = "%s=%s" % (name, value) if value is not None else "no %s" % name
    return (
        "the restarted kubelet runs with %s instead of %s: it did not read the edited file "
        "(is the node's profile right?)"
        % ("%s=%s" % (name, seen) if seen is not None else "no " + name, expected)
    )


def check_kubelet_files(change: dict) -> None:
    for f in change["files"]:
        content = read_original(f["path"])[0]
        current_sha = sha256_bytes(content) if content is not None else None
        if current_sha != f.get("expected_sha256"):
            raise AgentError("%s changed on the node since spctl read it; rerun" % f["path"])


def read_original(path: str):
    """(bytes, mode) of a file, or (None, 0o644) when it does not exist."""
    try:
        with open(path, "rb") as fh:
            return fh.read(), os.fstat(fh.fileno()).st_mode & 0o7777
    except FileNotFoundError:
        return None, 0o644


def apply_kubelet(change: dict) -> dict:
    """Write the kubelet's configuration files, restart it and wait for healthz; on
    failure put every file back, restart again and report."""
    unit = change["unit"]
    url = change.get("healthz_url") or DEFAULT_HEALTHZ
    timeout = float(change.get("timeout", 90))
    originals = [(f["path"],) + read_original(f["path"]) for f in change["files"]]
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for path, content, _mode in originals:
        if content is not None:
            backup = os.path.join(BACKUP_DIR, "kubelet", stamp + path)
            os.makedirs(os.path.dirname(backup), exist_ok=True)
            atomic_write(backup, content, 0o600)

    def restart() -> None:
        if change.get("daemon_reload"):
            systemctl("daemon-reload")
        # A unit that failed to start several times hits its start limit, and systemd
        # would then refuse this restart too (the rollback's restart above all).
        subprocess.run(
            ["systemctl", "reset-failed", unit + ".service"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        systemctl("restart", unit + ".service")

    try:
        for f, (_path, _content, mode) in zip(change["files"], originals):
            os.makedirs(os.path.dirname(f["path"]), exist_ok=True)
            atomic_write(f["path"], f["content"].encode(), mode)
        restart()
        if wait_healthy(unit, url, timeout):
            problem = kubelet_took_change(unit, url, change.get("flag"))
            if problem is None:
                return {"restarted": True}
        else:
            problem = (
                "the kubelet did not become healthy within %ds after the configuration change"
                % timeout
            )
    except Exception as exc:  # whatever went wrong, the previous configuration goes back
        problem = str(exc)
    # Roll back: the previous configuration, a restart, and a wait for it to be healthy again.
    try:
        for path, content, mode in originals:
            if content is None:
                if os.path.exists(path):
                    os.unlink(path)
            else:
                atomic_write(path, content, mode)
        restart()
        recovered = wait_healthy(unit, url, timeout)
    except Exception as exc:
        problem += "; restoring failed too: %s" % exc
        recovered = False
    raise AgentError(
        "%s; previous configuration restored%s. See `journalctl -u %s` on the node"
        % (
            problem,
            " and the kubelet is healthy again"
            if recovered
            else ", but the kubelet is STILL NOT healthy",
            unit,
        )
    )


# -- apply: manifests ---------------------------------------------------------------------------


def backup_manifest(pod: str, content: bytes) -> str:
    directory = os.path.join(BACKUP_DIR, "manifests", pod)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    now = time.time()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + "%06dZ" % (now % 1 * 1e6)
    path = os.path.join(directory, stamp + ".yaml")
    atomic_write(path, content, 0o600)
    for old in backups_of(pod)[KEEP_BACKUPS:]:
        try:
            os.unlink(os.path.join(directory, old))
        except OSError:
            pass
    return path


def find_pod(pods: list, kubelet_name: str):
    for pod in pods:
        if pod["pod"] == kubelet_name:
            return pod
    return None


class PodChange:
    """One manifest's transaction: the file, what was there, and how to undo it.

    Actions: create, update, remove, rollback (the newest backup that differs goes back),
    and adopt (the file already holds this pod in other bytes, or was not written by
    spctl: it is rewritten as rendered and owned from now on; the pod does not change).
    """

    def __init__(self, spec: dict, directory: str, node_name: str) -> None:
        self.name = spec["pod"]
        self.action = spec["action"]
        self.path = os.path.join(directory, spec["file"])
        self.content = spec.get("content", "").encode()
        self.expected = spec.get("expected_sha256")
        self.kubelet_name = "%s-%s" % (self.name, node_name)
        self.previous = None  # bytes of the file before this change, None if absent
        self.was_owned = None  # the state entry before this change
        self.before_uid = None  # the pod being replaced: the new one has another UID
        self.want_uid = None  # the pod that must (still) run: after adopt, after a rollback
        self.original_uid = None
        self.result = {
            "name": self.name,
            "action": self.action,
            "ok": False,
            "phase": None,
            "error": None,
        }

    def check(self, state: dict) -> None:
        """Read what is there now and refuse when it is not what the plan was made from."""
        try:
            with open(self.path, "rb") as fh:
                self.previous = fh.read()
        except FileNotFoundError:
            self.previous = None
        self.was_owned = state["manifests"].get(self.path)
        current = sha256_bytes(self.previous) if self.previous is not None else None
        if current != self.expected:
            raise AgentError("%s changed on the node since spctl read it; rerun" % self.path)
        if self.action == "rollback":
            candidates = []
            for name in backups_of(self.name):
                with open(os.path.join(BACKUP_DIR, "manifests", self.name, name), "rb") as fh:
                    data = fh.read()
                if data != self.previous:
                    candidates.append(data)
            if not candidates:
                raise AgentError("%s: no earlier version backed up on this node" % self.name)
            self.content = candidates[0]

    def write(self, state: dict) -> None:
        if self.previous is not None and self.action != "adopt":
            backup_manifest(self.name, self.previous)
        if self.action == "remove":
            os.unlink(self.path)
            fsync_dir(os.path.dirname(self.path))
            state["manifests"].pop(self.path, None)
        else:
            atomic_write(self.path, self.content)
            state["manifests"][self.path] = {"pod": self.name, "sha256": sha256_bytes(self.content)}
        save_state(state)

    def undo(self, state: dict) -> None:
        """Put back exactly what was there, ownership included."""
        if self.previous is None:
            if os.path.lexists(self.path):
                os.unlink(self.path)
        elif self.action == "remove" or read_original(self.path)[0] != self.previous:
            atomic_write(self.path, self.previous)
        if self.was_owned is None:
            state["manifests"].pop(self.path, None)
        else:
            state["manifests"][self.path] = self.was_owned
        save_state(state)


def pod_settled(change: PodChange, pods: list, stable_since: dict, stable_for: float, now: float):
    """None while waiting, True when done, or an error string when the pod failed.

    While one pod replaces another both can exist under the same name for a moment; the
    one that counts is the pod with the expected UID (a rollback puts the old content back
    at the same path, so the old pod's UID returns), or else any UID but the replaced one.
    """
    same_name = [p for p in pods if p["pod"] == change.kubelet_name]
    if change.action == "remove":
        return True if not same_name else None
    if change.want_uid:
        candidates = [p for p in same_name if p["uid"] == change.want_uid]
    else:
        candidates = [p for p in same_name if p["uid"] != change.before_uid]
    if not candidates:
        stable_since.pop(change.name, None)
        return None
    pod = max(candidates, key=lambda p: p["phase"] == "Running")
    if pod["phase"] == "Failed":
        return "the pod failed (%s)" % _container_summary(pod)
    if pod["phase"] != "Running":
        stable_since.pop(change.name, None)
        if pod["restarts"] >= 2:
            return "containers keep restarting (%s)" % _container_summary(pod)
        return None
    first = stable_since.setdefault(change.name, (now, pod["uid"], pod["restarts"]))
    if first[1] != pod["uid"]:
        stable_since[change.name] = (now, pod["uid"], pod["restarts"])
        return None
    if pod["restarts"] != first[2]:
        return "containers keep restarting (%s)" % _container_summary(pod)
    return True if now - first[0] >= stable_for else None


def _container_summary(pod: dict) -> str:
    parts = []
    for c in pod["containers"]:
        extra = "" if c["exit_code"] is None else ", exit code %s" % c["exit_code"]
        parts.append("%s: %s, %d restarts%s" % (c["name"], c["state"], c["restarts"], extra))
    return "; ".join(parts) or "no containers"


def wait_for(changes: list, timeout: float, stable_for: float) -> dict:
    """Poll the runtime until every change settles; return {pod name: True | error}."""
    deadline = time.monotonic() + timeout
    stable_since = {}
    outcome = {}
    while True:
        pods = runtime_pods()["pods"]
        now = time.monotonic()
        for change in changes:
            if change.name in outcome:
                continue
            verdict = pod_settled(change, pods, stable_since, stable_for, now)
            if verdict is not None:
                outcome[change.name] = verdict
                change.result["phase"] = (find_pod(pods, change.kubelet_name) or {}).get(
                    "phase", "Absent"
                )
        if len(outcome) == len(changes):
            return outcome
        if now >= deadline:
            for change in changes:
                if change.name not in outcome:
                    pod = find_pod(pods, change.kubelet_name)
                    change.result["phase"] = pod["phase"] if pod else "Absent"
                    outcome[change.name] = "not settled within %ds (%s)" % (
                        timeout,
                        "pod %s" % pod["phase"] if pod else "no pod seen",
                    )
            return outcome
        time.sleep(0.5)


def apply(request: dict) -> dict:
    node_name = request["node_name"]
    directory = request.get("manifest_dir")
    timeout = float(request.get("timeout", 300))
    stable_for = float(request.get("stable_for", 5))
    answer = {"kubelet_restarted": False, "pods": []}
    specs = request.get("changes") or []
    if (specs or request.get("wait_running")) and not directory:
        raise AgentError("no manifest directory given for the pods to change")
    with NodeLock(request.get("holder", "spctl"), float(request.get("wait_lock", 0))):
        # Every check comes before any write: a plan made from stale facts changes nothing.
        state = load_state()
        changes = [PodChange(spec, directory, node_name) for spec in specs]
        for change in changes:
            change.check(state)
        if request.get("kubelet"):
            check_kubelet_files(request["kubelet"])
            answer["kubelet_restarted"] = apply_kubelet(request["kubelet"])["restarted"]
        if directory:
            os.makedirs(directory, exist_ok=True)
            remove_stale_temporaries(directory)
        current = runtime_pods()["pods"]
        for change in changes:
            pod = find_pod(current, change.kubelet_name)
            change.original_uid = pod["uid"] if pod else None
            if change.action in ("update", "rollback"):
                # The new pod is the one with another UID; until then the old one may
                # still be running and must not be taken for it.
                change.before_uid = change.original_uid
            elif change.action == "adopt":
                change.want_uid = change.original_uid  # same pod: the kubelet hashes the parsed pod
        written = []
        try:
            for change in changes:
                written.append(change)
                change.write(state)
        except OSError as exc:
            # A full disk or a read-only directory: undo what was written, keep the old pods.
            problems = undo_all(reversed(written), state)
            remove_stale_temporaries(directory)
            done = (
                "the kubelet was reconfigured and restarted, but no manifest was changed"
                if answer["kubelet_restarted"]
                else "nothing was changed"
            )
            raise AgentError(
                "cannot write %s: %s; %s%s"
                % (change.path, exc.strerror or exc, done, "".join("; " + p for p in problems))
            ) from None
        waits = list(changes)
        for name in request.get("wait_running") or []:
            waits.append(
                PodChange(
                    {"pod": name, "action": "unchanged", "file": name + ".yaml"},
                    directory,
                    node_name,
                )
            )
        outcome = wait_for(waits, timeout, stable_for) if waits else {}
        failed = [c for c in changes if outcome.get(c.name) is not True]
        for change in failed:
            change.result["error"] = outcome[change.name]
            change.result["rolled_back"] = True
        for problem in undo_all(failed, state):
            answer.setdefault("errors", []).append(problem)
        if failed:
            # The previous version is back at the same path, so it gets its old UID: wait
            # until that pod runs again before reporting.
            for change in failed:
                change.before_uid = None
                change.want_uid = change.original_uid
                change.action = "remove" if change.previous is None else "restore"
            restored = wait_for(failed, timeout, stable_for)
            for change in failed:
                if restored.get(change.name) is not True:
                    change.result["error"] += "; after rollback: %s" % restored[change.name]
        for change in changes:
            change.result["ok"] = outcome.get(change.name) is True
            answer["pods"].append(change.result)
        for change in waits[len(changes) :]:
            verdict = outcome.get(change.name)
            answer["pods"].append(
                {
                    "name": change.name,
                    "action": "unchanged",
                    "ok": verdict is True,
                    "phase": change.result["phase"],
                    "error": None if verdict is True else verdict,
                }
            )
    return answer


def undo_all(changes, state: dict) -> list:
    """Undo each change; one that cannot be undone does not stop the others."""
    problems = []
    for change in changes:
        try:
            change.undo(state)
        except OSError as exc:
            problems.append("could not restore %s: %s" % (change.path, exc.strerror or exc))
    return problems


# -- entry point --------------------------------------------------------------------------------

OPS = {"facts": facts, "apply": apply}


def main() -> int:
    # The control host may go away mid-run (Ctrl-C, a dropped connection): finish the
    # transaction, including any rollback, rather than die half-way.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    lines = [line for line in sys.stdin.read().splitlines() if line.strip()]
    try:
        request = json.loads(lines[-1]) if lines else {"op": "facts"}
        op = OPS.get(request.get("op"))
        if op is None:
            raise AgentError(
                "unknown op %r; expected one of %s" % (request.get("op"), ", ".join(OPS))
            )
        answer = {"ok": True, "error": None}
        answer.update(op(request))
    except AgentError as exc:
        answer = {"ok": False, "error": str(exc)}
    except OSError as exc:
        answer = {"ok": False, "error": "%s: %s" % (exc.filename or "I/O", exc.strerror or exc)}
    except Exception as exc:  # a bug: still one JSON answer, and the traceback on stderr
        traceback.print_exc()
        answer = {"ok": False, "error": "agent internal error: %s: %s" % (type(exc).__name__, exc)}
    try:
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
