"""Pods through the CRI, as the kubelet's kuberuntime manager runs them: the configs it sends
with their labels and annotations, and what it reads back."""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Dict, List, Tuple

from .cri import api
from .cri.client import CRIError
from .manifests import DEFAULT_GRACE, StaticPod
from .pods import (
    ContainerDetail,
    PodContainers,
    RuntimeContainer,
    logs_directory,
    pod_labels,
    sort_attempts,
)
from .runtime import ImageNotPresent, RuntimeCallError, StartFailure

# -- the kubelet's labels and annotations on CRI sandboxes and containers ----------------------


def pod_logs_directory(pod: StaticPod) -> str:
    """The pod's directory under the kubelet's podLogsRootDirectory."""
    return logs_directory(pod.namespace, pod.name, pod.uid)


def hash_container(spec: Dict[str, Any]) -> str:
    """io.kubernetes.container.hash: FNV-1a (32 bit) of the container's JSON, in hex, as
    kubecontainer.HashContainer does (Go's field order differs, so the values do too)."""
    digest = 0x811C9DC5
    for byte in json.dumps(spec, sort_keys=True, separators=(",", ":")).encode():
        digest = ((digest ^ byte) * 0x01000193) & 0xFFFFFFFF
    return format(digest, "x")


def namespace_options(pod: StaticPod) -> Dict[str, int]:
    """namespacesForPod (pkg/kubelet/kuberuntime/util.go): the pod's network and IPC
    namespaces unless hostNetwork/hostIPC (NODE); a PID namespace per container unless
    hostPID (NODE) or shareProcessNamespace (POD)."""
    spec = pod.spec
    pid = api.NAMESPACE_CONTAINER
    if spec.get("hostPID"):
        pid = api.NAMESPACE_NODE
    elif spec.get("shareProcessNamespace"):
        pid = api.NAMESPACE_POD
    return {
        "network": api.NAMESPACE_NODE if spec.get("hostNetwork") else api.NAMESPACE_POD,
        "pid": pid,
        "ipc": api.NAMESPACE_NODE if spec.get("hostIPC") else api.NAMESPACE_POD,
    }


def _privileged(c: Dict[str, Any]) -> bool:
    return bool((c.get("securityContext") or {}).get("privileged"))


def cri_sandbox_config(pod: StaticPod, attempt: int, annotations: Dict[str, str]) -> Dict[str, Any]:
    """The PodSandboxConfig the kubelet sends (generatePodSandboxConfig in
    pkg/kubelet/kuberuntime/kuberuntime_sandbox.go): metadata with the attempt, the pod's
    labels plus io.kubernetes.pod.name/namespace/uid (newPodLabels in labels.go), the pod's
    annotations (newPodAnnotations, kubernetes.io/config.* included), the log directory, a
    hostname unless hostNetwork, and the namespace options."""
    labels = dict(pod.manifest["metadata"].get("labels") or {})
    labels.update(
        {
            "io.kubernetes.pod.name": pod.name,
            "io.kubernetes.pod.namespace": pod.namespace,
            "io.kubernetes.pod.uid": pod.uid,
        }
    )
    containers = pod.spec.get("containers") or []
    config: Dict[str, Any] = {
        "metadata": {
            "name": pod.name,
            "uid": pod.uid,
            "namespace": pod.namespace,
            "attempt": attempt,
        },
        "log_directory": pod_logs_directory(pod),
        "labels": labels,
        "annotations": dict(annotations),
        "linux": {
            "security_context": {
                "namespace_options": namespace_options(pod),
                "privileged": any(_privileged(c) for c in containers),
            }
        },
    }
    if not pod.spec.get("hostNetwork"):
        config["hostname"] = (pod.spec.get("hostname") or pod.name)[:63].rstrip("-.")
    return config


def cri_container_labels(pod: StaticPod, container: str) -> Dict[str, str]:
    """newContainerLabels (labels.go)."""
    return pod_labels(pod, container)


def cri_container_annotations(
    pod: StaticPod, spec: Dict[str, Any], restart_count: int
) -> Dict[str, str]:
    """newContainerAnnotations (labels.go). The API server defaults terminationMessagePath,
    terminationMessagePolicy and terminationGracePeriodSeconds, so they are always set."""
    annotations = {
        "io.kubernetes.container.hash": hash_container(spec),
        "io.kubernetes.container.restartCount": str(restart_count),
        "io.kubernetes.container.terminationMessagePath": spec.get("terminationMessagePath")
        or "/dev/termination-log",
        "io.kubernetes.container.terminationMessagePolicy": spec.get("terminationMessagePolicy")
        or "File",
        "io.kubernetes.pod.terminationGracePeriod": str(pod.grace_period),
        "io.kubernetes.container.type": "container",
    }
    if spec.get("ports"):
        # compact, in v1.ContainerPort's field order, protocol defaulted: as Go writes it
        order = ("name", "hostPort", "containerPort", "protocol", "hostIP")
        ports = [
            {k: p[k] for k in order if k in p or k == "protocol"}
            | {"protocol": p.get("protocol") or "TCP"}
            for p in spec["ports"]
        ]
        annotations["io.kubernetes.container.ports"] = json.dumps(ports, separators=(",", ":"))
    return annotations


def cri_container_config(
    pod: StaticPod, spec: Dict[str, Any], restart_count: int, mounts: List[Tuple[str, str, bool]]
) -> Dict[str, Any]:
    """The ContainerConfig of generateContainerConfig (kuberuntime_container.go): metadata
    with attempt = restart count, the log path <container>/<restart count>.log under the
    sandbox's log directory, command/args/env/working dir, mounts, and the security context."""
    config: Dict[str, Any] = {
        "metadata": {"name": spec["name"], "attempt": restart_count},
        "image": {"image": spec["image"]},
        "command": list(spec.get("command") or []),
        "args": list(spec.get("args") or []),
        "working_dir": spec.get("workingDir") or "",
        "envs": [{"key": e["name"], "value": e.get("value") or ""} for e in spec.get("env") or []],
        "mounts": [
            {"container_path": target, "host_path": source, "readonly": readonly}
            for source, target, readonly in mounts
        ],
        "labels": cri_container_labels(pod, spec["name"]),
        "annotations": cri_container_annotations(pod, spec, restart_count),
        "log_path": os.path.join(spec["name"], f"{restart_count}.log"),
        "linux": {
            "security_context": {
                "privileged": _privileged(spec),
                "namespace_options": namespace_options(pod),
            }
        },
    }
    return config


# -- the runtime's answers read back as pods, and the runtime itself ---------------------------


def _cri_state(state: int) -> str:
    """CRI container states in the words RuntimeContainer uses (Docker's)."""
    return {
        api.CONTAINER_CREATED: "created",
        api.CONTAINER_RUNNING: "running",
        api.CONTAINER_EXITED: "exited",
    }.get(state, "unknown")


def runtime_containers_from_cri(
    sandboxes: List[Dict[str, Any]], containers: List[Dict[str, Any]], node: str
) -> Dict[str, PodContainers]:
    """ListPodSandbox and ListContainers answers grouped into pods, like group_by_pod."""
    pods: Dict[str, PodContainers] = {}
    for s in sandboxes:
        labels, meta = s["labels"], s["metadata"] or {}
        uid, name = labels.get("io.kubernetes.pod.uid"), labels.get("io.kubernetes.pod.name")
        if not uid or not name or not name.endswith("-" + node):
            continue
        ready = s["state"] == api.SANDBOX_READY
        pods.setdefault(uid, PodContainers()).sandboxes.append(
            RuntimeContainer(
                id=s["id"],
                pod_uid=uid,
                pod_name=name,
                namespace=labels.get("io.kubernetes.pod.namespace", "default"),
                container="POD",
                attempt=meta.get("attempt", 0),
                state="running" if ready else "exited",
                created=s["created_at"],
                sandbox_id=s["id"],
                ip="",
                grace=DEFAULT_GRACE,
            )
        )
    for c in containers:
        labels, meta = c["labels"], c["metadata"] or {}
        uid, name = labels.get("io.kubernetes.pod.uid"), labels.get("io.kubernetes.pod.name")
        if not uid or not name or not name.endswith("-" + node):
            continue
        grace = c["annotations"].get("io.kubernetes.pod.terminationGracePeriod", "")
        container = RuntimeContainer(
            id=c["id"],
            pod_uid=uid,
            pod_name=name,
            namespace=labels.get("io.kubernetes.pod.namespace", "default"),
            container=labels.get("io.kubernetes.container.name") or meta.get("name", ""),
            attempt=meta.get("attempt", 0),
            state=_cri_state(c["state"]),
            created=c["created_at"],
            sandbox_id=c["pod_sandbox_id"],
            ip="",
            grace=int(grace) if grace.isdigit() else DEFAULT_GRACE,
        )
        pods.setdefault(uid, PodContainers()).containers.setdefault(container.container, []).append(
            container
        )
    return sort_attempts(pods)


def detail_from_cri(status: Dict[str, Any]) -> ContainerDetail:
    """ContainerStatus as a ContainerDetail: containerd gives the reason itself (Completed,
    Error, OOMKilled, StartError)."""
    if status.get("state") == api.CONTAINER_CREATED:
        return ContainerDetail("", "", 128, "StartError")  # made, never started
    return ContainerDetail(
        api.rfc3339(status.get("started_at", 0)),
        api.rfc3339(status.get("finished_at", 0)),
        int(status.get("exit_code", 0)),
        status.get("reason", ""),
    )


class CRIRuntime:
    """Pods through the CRI, as the kubelet's kuberuntime manager runs them."""

    name = "containerd"

    def __init__(self, client: Any) -> None:
        self.cri = client
        self._ips: Dict[str, str] = {}  # sandbox id -> pod IP (it never changes)
        self._attempts: Dict[str, int] = {}  # sandbox id -> attempt
        self._annotations: Dict[str, Dict[str, str]] = {}  # sandbox id -> its annotations

    def _call(self, method: Callable[..., Any], *args: Any) -> Any:
        try:
            return method(*args)
        except CRIError as exc:
            raise RuntimeCallError(exc.code, exc.message, str(exc)) from None

    def pods(self, node: str) -> Dict[str, PodContainers]:
        sandboxes = self._call(self.cri.list_pod_sandbox)
        containers = self._call(self.cri.list_containers)
        pods = runtime_containers_from_cri(sandboxes, containers, node)
        live = set()
        for s in sandboxes:
            live.add(s["id"])
            self._attempts[s["id"]] = (s["metadata"] or {}).get("attempt", 0)
            self._annotations[s["id"]] = s["annotations"]
        for pod in pods.values():
            sandbox = pod.sandbox
            if sandbox is not None and sandbox.alive:
                if sandbox.id not in self._ips:
                    status = self._call(self.cri.pod_sandbox_status, sandbox.id)
                    self._ips[sandbox.id] = (status.get("network") or {}).get("ip", "")
                sandbox.ip = self._ips[sandbox.id]
        for cache in (self._ips, self._attempts, self._annotations):
            for key in set(cache) - live:
                del cache[key]
        return pods

    def detail(self, c: RuntimeContainer) -> ContainerDetail:
        return detail_from_cri(self._call(self.cri.container_status, c.id))

    def conditions(self) -> List[Dict[str, Any]]:
        """The runtime's own Status conditions (containerd answers NetworkReady itself)."""
        return self._call(self.cri.runtime_conditions)

    def run_sandbox(self, pod: StaticPod, attempt: int, annotations: Dict[str, str]) -> str:
        config = cri_sandbox_config(pod, attempt, annotations)
        os.makedirs(config["log_directory"], mode=0o755, exist_ok=True)  # the kubelet makes it
        sandbox_id = self._call(self.cri.run_pod_sandbox, config)
        self._attempts[sandbox_id] = attempt
        self._annotations[sandbox_id] = annotations
        return sandbox_id

    def start_container(
        self,
        pod: StaticPod,
        spec: Dict[str, Any],
        sandbox_id: str,
        attempt: int,
        mounts: List[Tuple[str, str, bool]],
    ) -> str:
        # EnsureImageExists: the kubelet decides what a missing image means (ImagePulls).
        try:
            present = self.cri.image_present(spec["image"])
        except CRIError as exc:
            raise StartFailure("ErrImageInspect", str(exc), False) from None
        if not present:
            raise ImageNotPresent(spec["image"])
        sandbox_config = cri_sandbox_config(
            pod, self._attempts.get(sandbox_id, 0), self._annotations.get(sandbox_id, {})
        )
        config = cri_container_config(pod, spec, attempt, mounts)
        os.makedirs(
            os.path.join(sandbox_config["log_directory"], spec["name"]), mode=0o755, exist_ok=True
        )
        try:
            cid = self.cri.create_container(sandbox_id, config, sandbox_config)
        except CRIError as exc:
            raise StartFailure("CreateContainerError", exc.message, False) from None
        try:
            self.cri.start_container(cid)
        except CRIError as exc:
            raise StartFailure("RunContainerError", exc.message, True) from None
        return cid

    def stop_container(self, c: RuntimeContainer, grace: int) -> None:
        self._call(self.cri.stop_container, c.id, grace)

    def stop_sandbox(self, sandbox: RuntimeContainer) -> None:
        self._call(self.cri.stop_pod_sandbox, sandbox.id)

    def remove(self, c: RuntimeContainer) -> None:
        """RemoveContainer, or for a sandbox what the GC's removeSandbox does: StopPodSandbox
        then RemovePodSandbox. Gone already counts as removed."""
        try:
            if c.container == "POD":
                self.cri.stop_pod_sandbox(c.id)
                self.cri.remove_pod_sandbox(c.id)
            else:
                self.cri.remove_container(c.id)
        except CRIError as exc:
            if exc.code != "NOT_FOUND":
                raise RuntimeCallError(exc.code, exc.message, str(exc)) from None
