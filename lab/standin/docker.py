"""Pods as containers of the node's own dockerd, named and labelled as cri-dockerd does (the
seed walkthrough's Fedora node)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from .docker_api import DockerClient, DockerError
from .manifests import DEFAULT_GRACE, StaticPod
from .network import cri_dockerd_conditions
from .pods import ContainerDetail, PodContainers, RuntimeContainer, pod_labels, sort_attempts
from .runtime import ImageNotPresent, StartFailure
from .volumes import prepare_mounts

SANDBOX_IMAGE = "spctl-lab/pause:latest"
SANDBOX_COMMAND = ["/bin/sleep", "2147483647"]  # holds the pod's network namespace, like pause
GRACE_LABEL = "annotation.io.kubernetes.pod.terminationGracePeriod"


def container_from_api(entry: Dict[str, Any]) -> Optional[RuntimeContainer]:
    """One container of a pod, as `GET /containers/json` shows it; None for any other
    container."""
    labels = entry.get("Labels") or {}
    if not labels.get("io.kubernetes.pod.uid") or not labels.get("io.kubernetes.pod.name"):
        return None  # not a pod's container: none of the stand-in's business
    name = (entry.get("Names") or ["/"])[0].lstrip("/")
    tail = name.rsplit("_", 1)[-1]
    networks = (entry.get("NetworkSettings") or {}).get("Networks") or {}
    grace = labels.get(GRACE_LABEL, "")
    return RuntimeContainer(
        id=entry["Id"],
        pod_uid=labels["io.kubernetes.pod.uid"],
        pod_name=labels["io.kubernetes.pod.name"],
        namespace=labels.get("io.kubernetes.pod.namespace", "default"),
        container=labels.get("io.kubernetes.container.name", ""),
        attempt=int(tail) if tail.isdigit() else 0,
        state=entry.get("State", ""),
        created=int(entry.get("Created") or 0),
        sandbox_id=labels.get("io.kubernetes.sandbox.id", ""),
        ip=next((n["IPAddress"] for n in networks.values() if n.get("IPAddress")), ""),
        grace=int(grace) if grace.isdigit() else DEFAULT_GRACE,
    )


def group_by_pod(entries: List[Dict[str, Any]], node: str) -> Dict[str, PodContainers]:
    """Pod containers by pod UID. Only pods named for this node count: a real kubelet owns
    its whole engine, but while developing several stand-ins may share one."""
    pods: Dict[str, PodContainers] = {}
    for entry in entries:
        c = container_from_api(entry)
        if c is None or not c.pod_name.endswith("-" + node):
            continue
        pod = pods.setdefault(c.pod_uid, PodContainers())
        if c.container == "POD":
            pod.sandboxes.append(c)
        else:
            pod.containers.setdefault(c.container, []).append(c)
    return sort_attempts(pods)


def detail_from_inspect(info: Dict[str, Any]) -> ContainerDetail:
    """What only `GET /containers/{id}/json` tells: times and how it ended."""
    state = info.get("State") or {}
    code = int(state.get("ExitCode") or 0)
    if state.get("Status") == "created" or state.get("Error"):
        reason, code = "StartError", code or 128  # it never ran: the start failed
    elif state.get("OOMKilled"):
        reason = "OOMKilled"
    else:
        reason = "Completed" if code == 0 else "Error"
    times = [state.get(k) or "" for k in ("StartedAt", "FinishedAt")]
    started, finished = ("" if t.startswith("0001-") else t for t in times)
    return ContainerDetail(started, finished, code, reason)


def container_name(container: str, pod: StaticPod, attempt: int) -> str:
    """k8s_<container>_<pod>_<namespace>_<uid>_<attempt>; container "POD" is the sandbox."""
    return f"k8s_{container}_{pod.name}_{pod.namespace}_{pod.uid}_{attempt}"


def sandbox_config(pod: StaticPod, annotations: Dict[str, str]) -> Dict[str, Any]:
    """The sandbox carries the pod's labels and, as dockershim did, each annotation as a label."""
    labels = dict(pod.manifest["metadata"].get("labels") or {})
    labels.update(pod_labels(pod, "POD"), **{"io.kubernetes.docker.type": "podsandbox"})
    labels.update({f"annotation.{key}": value for key, value in annotations.items()})
    host_network = bool(pod.spec.get("hostNetwork"))
    config = {"Image": SANDBOX_IMAGE, "Entrypoint": SANDBOX_COMMAND, "Labels": labels}
    network = "host" if host_network else "bridge"
    config["HostConfig"] = {"NetworkMode": network, "RestartPolicy": {"Name": "no"}}
    if not host_network:  # a container joining a network namespace cannot set a hostname
        config["Hostname"] = (pod.spec.get("hostname") or pod.name)[:63].rstrip("-.")
    return config


def app_config(
    pod: StaticPod, c: Dict[str, Any], sandbox_id: str, attempt: int, binds: List[str]
) -> Dict[str, Any]:
    """An app container, in the sandbox's network namespace (or the host's)."""
    labels = pod_labels(pod, c["name"])
    labels.update(
        {
            "io.kubernetes.docker.type": "container",
            "io.kubernetes.sandbox.id": sandbox_id,
            "annotation.io.kubernetes.container.restartCount": str(attempt),
            GRACE_LABEL: str(pod.grace_period),  # so a pod whose file is gone still gets its grace
        }
    )
    network = "host" if pod.spec.get("hostNetwork") else f"container:{sandbox_id}"
    privileged = bool((c.get("securityContext") or {}).get("privileged"))
    config: Dict[str, Any] = {"Image": c["image"], "Labels": labels}
    # restarts are the kubelet's business, not dockerd's
    config["HostConfig"] = {
        "NetworkMode": network,
        "Binds": binds,
        "Privileged": privileged,
        "RestartPolicy": {"Name": "no"},
    }
    config["Env"] = [f"{e['name']}={e.get('value') or ''}" for e in c.get("env") or []]
    if c.get("command"):  # replaces the image's ENTRYPOINT and, with it, its CMD
        config["Entrypoint"] = c["command"]
    if c.get("args"):
        config["Cmd"] = c["args"]
    if c.get("workingDir"):
        config["WorkingDir"] = c["workingDir"]
    return config


def docker_binds(mounts: List[Tuple[str, str, bool]]) -> List[str]:
    return [
        f"{source}:{target}" + (":ro" if readonly else "") for source, target, readonly in mounts
    ]


def prepare_binds(pod: StaticPod, c: Dict[str, Any], root_dir: str) -> List[str]:
    """Docker binds for the container's hostPath and emptyDir volume mounts."""
    return docker_binds(prepare_mounts(pod, c, root_dir))


class DockerRuntime:
    """Pods as the node's dockerd containers, named and labelled as cri-dockerd does."""

    name = "docker"

    def __init__(self, docker: DockerClient, network_plugin: str = "") -> None:
        self.docker = docker
        # "cni" behind cri-dockerd (its default); "" the old in-kubelet dockershim's no-op
        # plugin (see network.py).
        self.network_plugin = network_plugin

    def conditions(self) -> List[Dict[str, Any]]:
        if self.network_plugin == "cni":
            return cri_dockerd_conditions()
        return [{"type": "RuntimeReady", "status": True}, {"type": "NetworkReady", "status": True}]

    def pods(self, node: str) -> Dict[str, PodContainers]:
        return group_by_pod(self.docker.list_pod_containers(), node)

    def detail(self, c: RuntimeContainer) -> ContainerDetail:
        return detail_from_inspect(self.docker.call("GET", f"/containers/{c.id}/json"))

    def run_sandbox(self, pod: StaticPod, attempt: int, annotations: Dict[str, str]) -> str:
        sandbox_id = self._create(
            container_name("POD", pod, attempt), sandbox_config(pod, annotations)
        )
        self.docker.start(sandbox_id)
        return sandbox_id

    def start_container(
        self,
        pod: StaticPod,
        spec: Dict[str, Any],
        sandbox_id: str,
        attempt: int,
        mounts: List[Tuple[str, str, bool]],
    ) -> str:
        cid = ""
        try:
            config = app_config(pod, spec, sandbox_id, attempt, docker_binds(mounts))
            cid = self._create(container_name(spec["name"], pod, attempt), config)
            self.docker.start(cid)
        except DockerError as exc:
            if not cid and exc.status == 404 and "no such image" in exc.message.lower():
                raise ImageNotPresent(spec["image"]) from None
            # A container that failed to start stays "created": the next sync restarts it.
            reason = "RunContainerError" if cid else "CreateContainerError"
            raise StartFailure(reason, exc.message, bool(cid)) from None
        return cid

    def _create(self, name: str, config: Dict[str, Any]) -> str:
        try:
            return self.docker.create(name, config)
        except DockerError as exc:
            if exc.status != 409:
                raise
            self.docker.remove(name)  # a leftover of an interrupted sync holds the name
            return self.docker.create(name, config)

    def stop_container(self, c: RuntimeContainer, grace: int) -> None:
        self.docker.stop(c.id, grace)

    def stop_sandbox(self, sandbox: RuntimeContainer) -> None:
        self.docker.stop(sandbox.id, 0)

    def remove(self, c: RuntimeContainer) -> None:
        self.docker.remove(c.id)  # the sandbox's sleep ignores SIGTERM as PID 1: just kill it
