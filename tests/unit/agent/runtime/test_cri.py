"""The agent's CRI reader against a real containerd (Debian's package, its CRI plugin), started
here with its own root, state directory and socket. Pods are made through the CRI as the kubelet
makes them (its labels and annotations), in sandboxes on the host network so no CNI is needed,
from a busybox image built here as an OCI archive and imported with ctr."""

import hashlib
import io
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import threading
import time

import pytest
from spctl_agent.runtime import cri, grpc, proto
from spctl_agent.runtime import pods as podlib

IMAGE = "spctl.test/busybox:1"

CONFIG = """\
version = 2
root = "{d}/root"
state = "{d}/state"
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{image}"
  # A sandbox asks for oom_score_adj -998, which a nested root may not lower: keep ours.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "{snapshotter}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{d}/cni/bin"
    conf_dir = "{d}/cni/conf"
"""

# The writer's side of cri-api `pkg/apis/runtime/v1/api.proto`, which the agent never sends.
WRITER = dict(proto.MESSAGES)
WRITER.update(
    {
        "Empty": {},
        "NamespaceOption": {1: ("network", "enum"), 2: ("pid", "enum"), 3: ("ipc", "enum")},
        "LinuxSandboxSecurityContext": {1: ("namespace_options", "NamespaceOption")},
        "LinuxPodSandboxConfig": {
            1: ("cgroup_parent", "string"),
            2: ("security_context", "LinuxSandboxSecurityContext"),
        },
        "PodSandboxConfig": {
            1: ("metadata", "PodSandboxMetadata"),
            2: ("hostname", "string"),
            3: ("log_directory", "string"),
            6: ("labels", "map"),
            7: ("annotations", "map"),
            8: ("linux", "LinuxPodSandboxConfig"),
        },
        "RunPodSandboxRequest": {
            1: ("config", "PodSandboxConfig"),
            2: ("runtime_handler", "string"),
        },
        "RunPodSandboxResponse": {1: ("pod_sandbox_id", "string")},
        "ContainerConfig": {
            1: ("metadata", "ContainerMetadata"),
            2: ("image", "ImageSpec"),
            3: ("command", "string", proto.REPEATED),
            4: ("args", "string", proto.REPEATED),
            9: ("labels", "map"),
            10: ("annotations", "map"),
        },
        "CreateContainerRequest": {
            1: ("pod_sandbox_id", "string"),
            2: ("config", "ContainerConfig"),
            3: ("sandbox_config", "PodSandboxConfig"),
        },
        "CreateContainerResponse": {1: ("container_id", "string")},
        "StartContainerRequest": {1: ("container_id", "string")},
        "StopPodSandboxRequest": {1: ("pod_sandbox_id", "string")},
        "RemovePodSandboxRequest": {1: ("pod_sandbox_id", "string")},
    }
)
NODE = 2  # NamespaceMode NODE: the host's network namespace, no CNI


def _oci_archive(path):
    """An OCI image layout tar: one uncompressed layer holding a static busybox and links."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        info = tarfile.TarInfo("bin")
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(info)
        tar.add("/bin/busybox", arcname="bin/busybox")
        for tool in ("sh", "sleep", "echo", "true"):
            info = tarfile.TarInfo("bin/" + tool)
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
    blobs = {}

    def blob(data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"digest": digest, "size": len(data)}

    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    layer_desc = blob(layer.getvalue())
    config = {
        "architecture": arch,
        "os": "linux",
        "config": {"Cmd": ["/bin/sleep", "3600"]},
        "rootfs": {"type": "layers", "diff_ids": [layer_desc["digest"]]},
    }
    config_desc = blob(json.dumps(config).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": dict(config_desc, mediaType="application/vnd.oci.image.config.v1+json"),
        "layers": [dict(layer_desc, mediaType="application/vnd.oci.image.layer.v1.tar")],
    }
    manifest_desc = blob(json.dumps(manifest).encode())
    index = {
        "schemaVersion": 2,
        "manifests": [
            dict(
                manifest_desc,
                mediaType="application/vnd.oci.image.manifest.v1+json",
                annotations={
                    "io.containerd.image.name": IMAGE,
                    "org.opencontainers.image.ref.name": "1",
                },
            )
        ],
    }
    with tarfile.open(path, "w") as tar:
        files = {
            "oci-layout": json.dumps({"imageLayoutVersion": "1.0.0"}).encode(),
            "index.json": json.dumps(index).encode(),
        }
        for digest, data in blobs.items():
            files["blobs/sha256/" + digest.split(":")[1]] = data
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _start(directory, snapshotter):
    with open(os.path.join(directory, "config.toml"), "w") as f:
        f.write(CONFIG.format(d=directory, image=IMAGE, snapshotter=snapshotter))
    with open(os.path.join(directory, "containerd.log"), "w") as log:
        proc = subprocess.Popen(
            ["containerd", "--config", os.path.join(directory, "config.toml")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    sock = os.path.join(directory, "containerd.sock")
    for _ in range(100):
        if os.path.exists(sock):
            try:
                if cri.version(sock, timeout=2)["runtime_name"]:
                    return proc, sock
            except grpc.GrpcError:
                pass
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.terminate()
    proc.wait(10)
    with open(os.path.join(directory, "containerd.log")) as f:
        raise AssertionError("containerd did not start:\n" + f.read()[-3000:])


@pytest.fixture(scope="module")
def containerd():
    """(socket path, CRI writer call) of a containerd of our own; its pods are removed after."""
    directory = tempfile.mkdtemp(prefix="spctl-ctd-")  # short: socket paths are limited
    proc = None
    try:
        # overlayfs where the kernel and the file system allow it; native everywhere else.
        probe = os.path.join(directory, "probe")
        for sub in ("l", "u", "w", "m"):
            os.makedirs(os.path.join(probe, sub))
        snapshotter = "native"
        if (
            subprocess.call(
                [
                    "mount",
                    "-t",
                    "overlay",
                    "overlay",
                    "-o",
                    f"lowerdir={probe}/l,upperdir={probe}/u,workdir={probe}/w",
                    os.path.join(probe, "m"),
                ],
                stderr=subprocess.DEVNULL,
            )
            == 0
        ):
            subprocess.call(["umount", os.path.join(probe, "m")])
            snapshotter = "overlayfs"
        proc, sock = _start(directory, snapshotter)
        archive = os.path.join(directory, "image.tar")
        _oci_archive(archive)
        subprocess.run(
            [
                "ctr",
                "--address",
                sock,
                "--namespace",
                "k8s.io",
                "images",
                "import",
                "--snapshotter",
                snapshotter,
                archive,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        conn = grpc.Connection(sock, 30)

        def call(method, request_type, request, response_type="Empty"):
            answer = conn.call(cri.SERVICE + method, proto.encode(request_type, request, WRITER))
            return proto.decode(response_type, answer, WRITER)

        yield sock, call
        for sandbox in call(
            "ListPodSandbox", "ListPodSandboxRequest", {}, "ListPodSandboxResponse"
        )["items"]:
            call("StopPodSandbox", "StopPodSandboxRequest", {"pod_sandbox_id": sandbox["id"]})
            call("RemovePodSandbox", "RemovePodSandboxRequest", {"pod_sandbox_id": sandbox["id"]})
        conn.close()
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        # Whatever containerd left mounted (it unmounts on removal; this is the safety net).
        with open("/proc/self/mounts") as f:
            mounts = [line.split()[1] for line in f if directory in line]
        for mount in sorted(mounts, reverse=True):
            subprocess.call(["umount", "-l", mount])
        shutil.rmtree(directory, ignore_errors=True)


def test_version_names_containerd_and_cri_v1(containerd):
    sock, _ = containerd
    answer = cri.version(sock)
    assert answer["runtime_name"] == "containerd"
    assert answer["runtime_api_version"] == "v1"
    out = subprocess.run(["containerd", "--version"], stdout=subprocess.PIPE, check=True).stdout
    assert answer["runtime_version"] in out.decode()


def test_unknown_method_is_unimplemented_with_containerds_message(containerd):
    sock, _ = containerd
    with grpc.Connection(sock, 5) as conn:
        with pytest.raises(grpc.GrpcError) as raised:
            conn.call(cri.SERVICE + "NoSuchMethod", b"")
        # The error ended its stream cleanly: the connection serves the next call.
        answer = conn.call(cri.SERVICE + "Version", proto.encode("VersionRequest", {}))
    assert raised.value.status == "UNIMPLEMENTED" and raised.value.code == 12
    assert (
        raised.value.message == "unknown method NoSuchMethod for service runtime.v1.RuntimeService"
    )
    assert proto.decode("VersionResponse", answer)["runtime_name"] == "containerd"


def test_an_unknown_service_is_unimplemented_with_grpc_gos_message(containerd):
    # What a runtime without CRI v1 (containerd 1.5) answers a v1 call; tests/fakes/cri_peer.py
    # answers so.
    sock, _ = containerd
    with pytest.raises(grpc.GrpcError) as raised:
        grpc.unary(sock, "/runtime.v1beta9.RuntimeService/Version", b"")
    assert raised.value.code == 12 and raised.value.from_server
    assert raised.value.message == "unknown service runtime.v1beta9.RuntimeService"


def test_not_found_carries_the_runtimes_message(containerd):
    sock, _ = containerd
    with pytest.raises(grpc.GrpcError) as raised:
        grpc.unary(
            sock,
            cri.SERVICE + "ContainerStatus",
            proto.encode("ContainerStatusRequest", {"container_id": "no-such-id"}),
        )
    assert raised.value.status == "NOT_FOUND"
    assert '"no-such-id"' in raised.value.message and "not found" in raised.value.message


def test_empty_runtime_reads_no_pods():
    directory = tempfile.mkdtemp(prefix="spctl-ctd-")
    try:
        proc, sock = _start(directory, "native")
        try:
            with grpc.Connection(sock, 5) as conn:
                sandboxes = conn.call(cri.SERVICE + "ListPodSandbox", b"")
                containers = conn.call(cri.SERVICE + "ListContainers", b"")
            assert proto.decode("ListPodSandboxResponse", sandboxes) == {"items": []}
            assert proto.decode("ListContainersResponse", containers) == {"containers": []}
            assert cri.read_pods(sock) == {}
        finally:
            proc.terminate()
            proc.wait(20)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _sandbox(call, name, uid, attempt, annotations, kubelet_labels=True):
    labels = {"tier": "web"}
    if kubelet_labels:
        labels.update(
            {
                cri.POD_NAME_LABEL: name,
                cri.POD_NAMESPACE_LABEL: "kube-system",
                cri.POD_UID_LABEL: uid,
            }
        )
    config = {
        "metadata": {"name": name, "uid": uid, "namespace": "kube-system", "attempt": attempt},
        "labels": labels,
        "annotations": annotations,
        "linux": {
            "security_context": {"namespace_options": {"network": NODE, "pid": NODE, "ipc": NODE}}
        },
    }
    sandbox_id = call(
        "RunPodSandbox", "RunPodSandboxRequest", {"config": config}, "RunPodSandboxResponse"
    )["pod_sandbox_id"]
    return sandbox_id, config


def _container(call, sandbox, name, attempt, script, restart_count=None):
    sandbox_id, sandbox_config = sandbox
    labels, annotations = {}, {}
    meta = sandbox_config["metadata"]
    if cri.POD_UID_LABEL in sandbox_config["labels"]:
        labels = {
            cri.POD_NAME_LABEL: meta["name"],
            cri.POD_NAMESPACE_LABEL: meta["namespace"],
            cri.POD_UID_LABEL: meta["uid"],
            cri.CONTAINER_NAME_LABEL: name,
        }
    if restart_count is not None:
        annotations[cri.RESTART_COUNT_ANNOTATION] = str(restart_count)
    config = {
        "metadata": {"name": name, "attempt": attempt},
        "image": {"image": IMAGE},
        "command": ["/bin/sh", "-c", script],
        "labels": labels,
        "annotations": annotations,
    }
    container_id = call(
        "CreateContainer",
        "CreateContainerRequest",
        {"pod_sandbox_id": sandbox_id, "config": config, "sandbox_config": sandbox_config},
        "CreateContainerResponse",
    )["container_id"]
    call("StartContainer", "StartContainerRequest", {"container_id": container_id})
    return container_id


def _wait_exited(call, container_id):
    for _ in range(100):
        status = call(
            "ContainerStatus",
            "ContainerStatusRequest",
            {"container_id": container_id},
            "ContainerStatusResponse",
        )["status"]
        if status["state"] == 2:
            return status
        time.sleep(0.05)
    raise AssertionError(f"container {container_id} did not exit")


def test_pods_with_recreated_sandbox_restarts_and_exit_codes(containerd):
    sock, call = containerd
    t0 = time.time()
    # A static pod whose first sandbox died (a node reboot): it ran one container that failed.
    old = _sandbox(
        call,
        "web-n1",
        "uid-1",
        0,
        {"kubernetes.io/config.source": "file", "spctl.test/sandbox": "old"},
    )
    first = _container(call, old, "app", 0, "exit 3", restart_count=0)
    _wait_exited(call, first)
    call("StopPodSandbox", "StopPodSandboxRequest", {"pod_sandbox_id": old[0]})
    # Its new sandbox: "app" failed once more, then runs; "job" failed with its own count.
    new = _sandbox(
        call,
        "web-n1",
        "uid-1",
        1,
        {"kubernetes.io/config.source": "file", "spctl.test/sandbox": "new"},
    )
    failed = _container(call, new, "app", 1, "exit 7", restart_count=1)
    _wait_exited(call, failed)
    running = _container(call, new, "app", 2, "exec sleep 3600", restart_count=2)
    job = _container(call, new, "job", 0, "echo bye >&2; exit 42", restart_count=5)
    _wait_exited(call, job)
    # Made without the kubelet's labels: identity from the metadata, restarts from attempt.
    # Its 300 kB annotation makes the answers span many DATA frames and the default windows.
    bare = _sandbox(
        call, "bare", "uid-2", 0, {"spctl.test/big": "x" * 300000}, kubelet_labels=False
    )
    bare_app = _container(call, bare, "app", 4, "exec sleep 3600")

    pods = cri.read_pods(sock, timeout=10)

    assert set(pods) == {("kube-system", "web-n1", "uid-1"), ("kube-system", "bare", "uid-2")}
    web = pods[("kube-system", "web-n1", "uid-1")]
    assert [s["id"] for s in web["sandboxes"]] == [new[0], old[0]]
    assert [s["state"] for s in web["sandboxes"]] == ["running", "exited"]
    assert [s["attempt"] for s in web["sandboxes"]] == [1, 0]
    assert web["sandbox"] == web["sandboxes"][0]
    assert web["annotations"]["spctl.test/sandbox"] == "new"
    assert web["annotations"]["kubernetes.io/config.source"] == "file"
    assert web["labels"][cri.POD_UID_LABEL] == "uid-1" and web["labels"]["tier"] == "web"
    assert abs(web["sandbox"]["created"] - t0) < 60
    assert web["sandbox"]["created"] == web["sandbox"]["created_ns"] // 10**9

    assert set(web["containers"]) == {"app", "job"}
    app = web["containers"]["app"]
    assert (app["id"], app["state"], app["restarts"], app["attempt"]) == (running, "running", 2, 2)
    assert app["exit_code"] is None and app["sandbox_id"] == new[0]
    # The kubelet's lastState: the container before the running one, as ContainerStatus says.
    assert (app["last_exit_code"], app["last_reason"]) == (7, "Error")
    job_record = web["containers"]["job"]
    assert (job_record["id"], job_record["state"], job_record["exit_code"]) == (job, "exited", 42)
    assert job_record["restarts"] == 5
    assert job_record["reason"] == "Error"
    assert job_record["started"] and job_record["finished"] >= job_record["started"]

    # getPhase: app runs, job waits for its restart (restartPolicy Always): Running, not ready.
    summary = podlib.summarize(*("kube-system", "web-n1", "uid-1"), web, restart_policy="Always")
    assert (summary["phase"], summary["ready"], summary["restarts"]) == ("Running", False, 7)

    bare_pod = pods[("kube-system", "bare", "uid-2")]
    assert bare_pod["containers"]["app"]["id"] == bare_app
    assert bare_pod["containers"]["app"]["restarts"] == 4  # no annotation: metadata.attempt
    assert bare_pod["sandbox"]["id"] == bare[0]
    assert bare_pod["annotations"]["spctl.test/big"] == "x" * 300000

    status = cri.sandbox_status(sock, new[0])
    assert status["state"] == "running" and status["annotations"]["spctl.test/sandbox"] == "new"
    answer = cri.exec_sync(sock, running, ["/bin/sh", "-c", "echo out; echo err >&2; exit 5"])
    assert answer == {"stdout": b"out\n", "stderr": b"err\n", "exit_code": 5}
    assert cri.spoken(sock) == "v1"

    # containerd 1.6 serves runtime.v1alpha2 beside v1: the agent's messages, asked there,
    # read the same pods (its field numbers are those of both api.proto files).
    cri._SPOKEN[sock] = "v1alpha2"
    try:
        assert cri.read_pods(sock, timeout=10) == pods
        assert cri.sandbox_status(sock, new[0]) == status
        assert cri.exec_sync(sock, running, ["/bin/sh", "-c", "echo v; exit 4"]) == {
            "stdout": b"v\n",
            "stderr": b"",
            "exit_code": 4,
        }
        assert cri.version(sock)["runtime_api_version"] == "v1alpha2"
    finally:
        cri._SPOKEN[sock] = "v1"


def test_missing_socket_is_a_clear_error(tmp_path):
    started = time.monotonic()
    with pytest.raises(grpc.GrpcError) as raised:
        cri.read_pods(str(tmp_path / "none.sock"), timeout=2)
    assert raised.value.status == "UNAVAILABLE"
    assert "none.sock" in str(raised.value) and "No such file" in str(raised.value)
    assert time.monotonic() - started < 1


def test_silent_socket_times_out():
    directory = tempfile.mkdtemp(prefix="spctl-silent-")
    path = os.path.join(directory, "silent.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    accepted = []
    thread = threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        with pytest.raises(grpc.GrpcError) as raised:
            cri.read_pods(path, timeout=1.0)
        elapsed = time.monotonic() - started
        assert raised.value.status == "DEADLINE_EXCEEDED"
        assert "did not answer within 1s" in str(raised.value)
        assert 0.9 < elapsed < 3
        assert accepted  # it did connect: the wait was for an answer
    finally:
        for conn in accepted:
            conn.close()
        server.close()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.parametrize(
    "endpoint, path",
    [
        ("unix:///run/containerd/containerd.sock", "/run/containerd/containerd.sock"),
        ("/run/crio/crio.sock", "/run/crio/crio.sock"),
        (" unix:///run/k3s/containerd/containerd.sock\n", "/run/k3s/containerd/containerd.sock"),
    ],
)
def test_socket_path(endpoint, path):
    assert cri.socket_path(endpoint) == path


@pytest.mark.parametrize(
    "endpoint, why",
    [
        ("tcp://10.0.0.1:2375", "only unix sockets"),
        ("npipe:////./pipe/x", "only unix sockets"),
        ("unix://relative.sock", "must be absolute"),
        ("crio.sock", "must be absolute"),
    ],
)
def test_socket_path_refuses_other_transports(endpoint, why):
    with pytest.raises(cri.EndpointError, match=why):
        cri.socket_path(endpoint)


def test_find_socket_takes_the_first_that_is_a_socket(tmp_path):
    not_socket = tmp_path / "file.sock"
    not_socket.write_text("")
    real = tmp_path / "real.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(real))
    try:
        endpoints = [
            "unix://%s" % (tmp_path / "absent.sock"),
            str(not_socket),
            "unix://" + str(real),
        ]
        assert cri.find_socket(endpoints) == str(real)
        assert cri.find_socket(endpoints[:2]) is None
    finally:
        server.close()


# The agent's oldest python: RHEL 8's platform-python is 3.6. `make lint` checks the agent's
# syntax and library use against 3.6 with vermin; where a 3.6 interpreter is on the machine,
# this runs the agent as shipped (the zipapp) under it against the real containerd.
def _python36() -> str:
    """A real python 3.6 (pyenv's shims only say which version would have it)."""
    import glob

    found = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.6*/bin/python3.6")))
    on_path = shutil.which("python3.6")
    if on_path and "/shims/" not in on_path:
        found.insert(0, on_path)
    return found[0] if found else ""


PY36 = _python36()


@pytest.mark.skipif(not PY36, reason="no python 3.6 interpreter here")
def test_the_shipped_agent_reads_the_cri_the_same_on_python_36(containerd, tmp_path):
    from spctl.transport import agent_archive

    sock, _ = containerd
    pyz = tmp_path / "agent.pyz"
    pyz.write_bytes(agent_archive.agent_archive())
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]);"
        "from spctl_agent.runtime import cri;"
        "pods = cri.read_pods(sys.argv[2]);"
        "print(json.dumps(sorted([list(k), v] for k, v in pods.items()), sort_keys=True))"
    )
    done = subprocess.run(
        [PY36, "-I", "-S", "-c", code, str(pyz), sock],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()
    here = cri.read_pods(sock)
    expected = json.dumps(sorted([list(k), v] for k, v in here.items()), sort_keys=True)
    assert done.stdout.decode().strip() == expected
    # And the whole agent answers a facts request on 3.6, run by hand as the README says.
    facts = subprocess.run(
        [PY36, str(pyz)],
        input=b'{"op": "facts"}\n',
        capture_output=True,
        timeout=60,
    )
    answer = json.loads(facts.stdout.decode().strip().splitlines()[-1])
    assert answer["ok"] is True, (answer, facts.stderr.decode())
    assert answer["python"].startswith("3.6.")
