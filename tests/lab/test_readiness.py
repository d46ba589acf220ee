"""Readiness as the kubelet sees it, on real nodes: the agent runs the pod's startup and
readiness probes (httpGet, tcpSocket, exec through Docker's exec API or the CRI's ExecSync,
grpc) with their timing fields, and a pod the kubelet cannot start (an image it cannot pull)
fails the deploy at once with the kubelet's own message, then is rolled back.

Nodes: my-node1 (fedora: Docker through the stand-in, as cri-dockerd names containers) and
my-node2 (kubeadm-deb: containerd's CRI). Each test leaves static-web deployed as the lab's
inventory has it.

The gRPC health server is the node's own python3 with python3-grpcio (the lab nodes have it
for the stand-in's CRI client), run from the lab's busybox pod by ``chroot`` into the node's
root mounted read-only: a hostNetwork pod, so the probe reaches it on the node's address."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fakes.lab import (
    WEB,
    LabSession,
    deploy_json,
    inventory,
    set_kubelet_release,
    sha,
    spctl,
    spctl_json,
)

MANIFEST = "/etc/kubernetes/manifests/static-web.yaml"
NODES = ("my-node1", "my-node2")


def with_probes(probes: str, image: str = "{{ image }}") -> str:
    """The lab's static-web with ``probes`` (YAML at the container's level) added."""
    text = WEB.replace("{{ image }}", image)
    return text + "".join(f"      {line}\n" for line in probes.strip("\n").splitlines())


GRPC = """\
apiVersion: v1
kind: Pod
metadata:
  name: static-web
spec:
  hostNetwork: true
  containers:
    - name: health
      image: {{ image }}
      command:
        - /bin/busybox
        - chroot
        - /host
        - python3
        - -c
        - |
          import signal, sys, grpc
          from concurrent import futures
          def check(request, context):
              service = request[2:].decode()
              return b"\\x08\\x01" if service in ("", "ok") else b"\\x08\\x02"
          handler = grpc.method_handlers_generic_handler(
              "grpc.health.v1.Health", {"Check": grpc.unary_unary_rpc_method_handler(check)})
          server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
          server.add_generic_rpc_handlers((handler,))
          server.add_insecure_port("0.0.0.0:50051")
          server.start()
          signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
          server.wait_for_termination()
      readinessProbe:
        grpc: {port: 50051, service: SERVICE}
        periodSeconds: 1
      volumeMounts:
        - {name: host, mountPath: /host, readOnly: true}
  volumes:
    - name: host
      hostPath: {path: /}
"""


def pod_result(result: dict, node: str | None = None) -> dict:
    nodes = [n for n in result["nodes"] if node is None or n["name"] == node]
    return nodes[0]["pods"][0]


@pytest.fixture
def restore(lab: LabSession):
    yield
    for node in NODES:
        spctl_json("deploy", "--node", node, "--stable-for", "1")


def test_http_tcp_and_exec_probes_pass_after_their_delay(
    lab: LabSession, tmp_path: Path, restore
) -> None:
    """On the Docker node and the containerd node at once (one deploy, both nodes)."""
    probes = """
startupProbe:
  tcpSocket: {port: 80}
  periodSeconds: 1
readinessProbe:
  httpGet: {path: /index.html, port: web, httpHeaders: [{name: X-Probe, value: lab}]}
  initialDelaySeconds: 12
  periodSeconds: 1
"""
    path = inventory(tmp_path, "http", templates={"static-web": with_probes(probes)})
    code, result, _, took = deploy_json(path, NODES, 60)
    assert code == 0, result
    # Not up before the readiness probe's initialDelaySeconds.
    assert took >= 12, took
    assert all(pod_result(result, n)["phase"] == "Running" for n in NODES), result

    probes = """
readinessProbe:
  exec: {command: [cat, /www/index.html]}
  periodSeconds: 1
"""
    path = inventory(tmp_path, "exec", templates={"static-web": with_probes(probes)})
    code, result, _, took = deploy_json(path, NODES, 30)
    assert code == 0, result


def test_exec_probe_expands_vars_from_the_containers_env(
    lab: LabSession, tmp_path: Path, restore
) -> None:
    """$(PORT) and $(PAGE) come from the container's static env, as the kubelet's prober
    expands them (ExpandContainerCommandOnlyStatic). No shell runs the command: unexpanded,
    wget would be given ``127.0.0.1:$(PORT)`` and fail."""
    probes = """
env:
  - {name: PORT, value: "80"}
  - {name: PAGE, value: index.html}
readinessProbe:
  exec: {command: [wget, -q, -O, /dev/null, "http://127.0.0.1:$(PORT)/$(PAGE)"]}
  periodSeconds: 1
"""
    path = inventory(tmp_path, "vars", templates={"static-web": with_probes(probes)})
    code, result, _, _ = deploy_json(path, NODES, 30)
    assert code == 0, result
    assert all(pod_result(result, n)["phase"] == "Running" for n in NODES), result


@pytest.mark.parametrize(
    "probes, message",
    [
        (
            "readinessProbe:\n  httpGet: {path: /missing, port: 80}\n  periodSeconds: 1\n",
            "readiness probe: HTTP probe failed with statuscode: 404",
        ),
        (
            "readinessProbe:\n  tcpSocket: {port: 81}\n  periodSeconds: 1\n",
            "readiness probe: dial tcp",
        ),
        (
            # The command's output, both streams, is in the error on the Docker node (read
            # from the attached exec's stream) as on the containerd node (ExecSync); the
            # shell computes it, so the command's own text (also in the error) never has it.
            # timeoutSeconds covers the whole exec, its creation included (cri-dockerd
            # core/exec.go, containerd's ExecSync): 1 s, the default, is too short on a
            # loaded machine, as it would be on a loaded node.
            "readinessProbe:\n  exec: {command: [sh, -c, 'echo out-$((6*7)); "
            "echo err-$((6*8)) >&2; exit 4']}\n  periodSeconds: 1\n  timeoutSeconds: 5\n",
            ("exited with 4", "out-42", "err-48"),
        ),
        (
            "startupProbe:\n  exec: {command: ['false']}\n  periodSeconds: 1\n"
            "readinessProbe:\n  httpGet: {path: /, port: 80}\n",
            "startup probe:",
        ),
        (
            # The readiness probe is not run before its delay: the wait ends first.
            "readinessProbe:\n  httpGet: {path: /, port: 80}\n  initialDelaySeconds: 60\n",
            "readiness probe: not probed yet",
        ),
    ],
    ids=["http", "tcp", "exec", "startup", "initial-delay"],
)
def test_failing_probe_fails_the_deploy_and_rolls_back(
    lab: LabSession, tmp_path: Path, probes: str, message: str | tuple[str, ...]
) -> None:
    """On the Docker node and the containerd node at once (one deploy, both nodes)."""
    spctl_json("deploy", *[a for n in NODES for a in ("--node", n)], "--stable-for", "1")
    before = {n: (sha(lab, n, MANIFEST), sorted(lab.running_pod_uids(n, "web"))) for n in NODES}
    path = inventory(tmp_path, "failing", templates={"static-web": with_probes(probes)})
    # 15 s: a failing probe fails the change only at the timeout (it may pass yet), and the
    # pod must start and be probed within it on a loaded machine too.
    code, result, _, _ = deploy_json(path, NODES, 15)
    assert code == 1, result
    messages = (message,) if isinstance(message, str) else message
    for node in NODES:
        pod = pod_result(result, node)
        assert pod["action"] == "failed", (node, pod)
        assert all(m in pod["error"] for m in messages), (node, pod["error"])
        assert (sha(lab, node, MANIFEST), sorted(lab.running_pod_uids(node, "web"))) == (
            before[node]
        )


def test_grpc_probe(lab: LabSession, tmp_path: Path, restore) -> None:
    serving = inventory(tmp_path, "ok", templates={"static-web": GRPC.replace("SERVICE", "ok")})
    code, result, _, _ = deploy_json(serving, NODES, 60)
    assert code == 0, result
    before = {n: sha(lab, n, MANIFEST) for n in NODES}
    down = inventory(tmp_path, "down", templates={"static-web": GRPC.replace("SERVICE", "down")})
    code, result, _, _ = deploy_json(down, NODES, 10)
    assert code == 1, result
    for node in NODES:
        error = pod_result(result, node)["error"]
        assert "service unhealthy (responded with 'NOT_SERVING')" in error, (node, error)
        assert sha(lab, node, MANIFEST) == before[node]


def test_image_that_cannot_be_pulled_fails_fast_with_the_kubelets_reason(
    lab: LabSession, tmp_path: Path
) -> None:
    spctl_json("deploy", *[a for n in NODES for a in ("--node", n)], "--stable-for", "1")
    before = {n: (sha(lab, n, MANIFEST), sorted(lab.running_pod_uids(n, "web"))) for n in NODES}
    text = WEB.replace("{{ image }}", "spctl-lab/absent:1")
    path = inventory(tmp_path, "absent", templates={"static-web": text})
    code, result, _, took = deploy_json(path, NODES, 300)
    assert code == 1, result
    assert took < 30, took
    for node in NODES:
        error = pod_result(result, node)["error"]
        assert error.startswith(f"the kubelet cannot start default/static-web-{node}: "), error
        assert "ErrImagePull" in error and "spctl-lab/absent:1" in error, error
        assert (sha(lab, node, MANIFEST), sorted(lab.running_pod_uids(node, "web"))) == (
            before[node]
        )


@pytest.fixture
def kubelet_1_31(lab: LabSession):
    """my-node2's kubelet is a 1.31 one: RelaxedEnvironmentVariableValidation is alpha and off
    there, so environment variable names must be C-like, while spctl validates with 1.34's
    rules (any printable ASCII but '=')."""
    node = "my-node2"
    set_kubelet_release(lab, node, "1.31")
    yield node
    set_kubelet_release(lab, node, None)


def test_file_the_kubelet_rejects_fails_fast_with_its_message_and_is_rolled_back(
    lab: LabSession, tmp_path: Path, kubelet_1_31: str
) -> None:
    node = kubelet_1_31
    spctl_json("deploy", "--node", node, "--stable-for", "1")
    before = (sha(lab, node, MANIFEST), sorted(lab.running_pod_uids(node, "web")))
    assert before[1], before
    env = '      env:\n        - {name: 1ST_PORT, value: "8080"}\n'
    path = inventory(tmp_path, "env", templates={"static-web": WEB + env})
    assert spctl("validate", "--node", node, inventory=path).returncode == 0  # 1.34's rules
    code, result, _, took = deploy_json(path, node, 300)
    assert code == 1, result
    assert took < 30, took
    error = pod_result(result, node)["error"]
    assert error.startswith(f"the kubelet rejected {MANIFEST}: invalid pod: "), error
    assert 'spec.containers[0].env[0].name: Invalid value: "1ST_PORT"' in error, error
    assert "must not start with a digit" in error, error
    assert (sha(lab, node, MANIFEST), sorted(lab.running_pod_uids(node, "web"))) == before


def test_status_ready_comes_from_the_readiness_probe(
    lab: LabSession, tmp_path: Path, restore
) -> None:
    """READY as the pod's readiness probe says it: ready while /index.html answers, not ready
    (the reason shown) once the file is gone, though the container keeps running."""
    node = "my-node1"
    probes = """
readinessProbe:
  httpGet: {path: /index.html, port: web}
  periodSeconds: 1
"""
    path = inventory(tmp_path, "ready", templates={"static-web": with_probes(probes)})
    code, result, _, _ = deploy_json(path, node, 60)
    assert code == 0, result

    def status() -> dict:
        done = spctl("status", "--node", node, "-o", "json", inventory=path)
        return json.loads(done.stdout)["nodes"][0]["pods"][0]

    row = status()
    assert (row["phase"], row["ready"], row["not_ready"]) == ("Running", True, None), row
    # The web container of the pod, on the node's Docker engine (pkg/kubelet/dockershim names).
    container = lab.out(
        node,
        "docker ps -q --filter label=io.kubernetes.container.name=web "
        f"--filter label=io.kubernetes.pod.name=static-web-{node}",
    ).split()[0]
    lab.out(node, f"docker exec {container} /bin/busybox rm /www/index.html")
    row = status()
    assert (row["phase"], row["ready"]) == ("Running", False), row
    assert row["not_ready"].startswith(
        "web: readiness probe: HTTP probe failed with statuscode: 404"
    )
    table = spctl("status", "--node", node, inventory=path).stdout
    assert "0/1" in table, table
