"""Pods as the kubelet sees them: identity and phase, from the runtime's records.

The records come from ``runtime.cri`` or ``runtime.docker``, both in one shape:
{(namespace, name, uid): {"sandboxes": [newest first], "sandbox": newest or None,
"containers": {name: newest record}, "annotations", "labels"}}.
"""

from .. import protocol


def summarize(namespace, name, uid, pod):
    """One pod's summary, in the facts answer's shape.

    Phase, from what the runtime shows (the kubelet's own getPhase in
    pkg/kubelet/kubelet_pods.go reads the same container states):

    - Running: the newest sandbox is ready and every container's newest instance runs.
    - Failed: a container of the running sandbox exited with a non-zero code (it crashed;
      the kubelet may restart it, but the pod is not up), or the sandbox is down and its
      containers all stopped, one with a non-zero code.
    - Succeeded: the sandbox is down and every container stopped with code 0.
    - Pending: anything else, such as a sandbox being recreated.

    When the kubelet recreates a sandbox it recreates every container in it
    (pkg/kubelet/kuberuntime/kuberuntime_manager.go, computePodActions), so while the
    sandbox runs, a container instance of an older sandbox only means "not created yet":
    a pod coming back after a rollback must not read Failed from the exit code its
    previous containers got when they were stopped.
    """
    sandbox = pod.get("sandbox")
    sandbox_up = sandbox is not None and sandbox["state"] == "running"
    containers = []
    for cname, c in sorted(pod["containers"].items()):
        stale = sandbox_up and c.get("sandbox_id") not in (None, "", sandbox["id"])
        containers.append(
            {
                "name": cname,
                "id": c.get("id"),
                "state": "created" if stale else c["state"],
                "restarts": int(c.get("restarts") or 0),
                "exit_code": None if stale else c.get("exit_code"),
                "reason": None if stale else c.get("reason"),
                "created": c.get("created"),
                "log_path": None if stale else c.get("log_path"),
            }
        )
    running = [c["state"] == "running" for c in containers]
    crashed = [c["state"] == "exited" and (c["exit_code"] or 0) != 0 for c in containers]
    stopped = bool(containers) and not any(running)
    if sandbox_up and containers and all(running):
        phase = "Running"
    elif sandbox_up and any(crashed):
        phase = "Failed"
    elif not sandbox_up and stopped:
        failed = any((c["exit_code"] or 0) != 0 for c in containers)
        phase = "Failed" if failed else "Succeeded"
    else:
        phase = "Pending"
    annotations = pod.get("annotations") or {}
    return {
        "pod": name,
        "namespace": namespace,
        "uid": uid,
        "phase": phase,
        "ready": phase == "Running",
        "restarts": sum(c["restarts"] for c in containers),
        "created": sandbox["created"] if sandbox else None,
        "sandbox_id": sandbox["id"] if sandbox else None,
        "sandboxes": len(pod.get("sandboxes") or ([sandbox] if sandbox else [])),
        "source": annotations.get(protocol.CONFIG_SOURCE_ANNOTATION),
        "annotations": annotations,
        "containers": containers,
    }


def summarize_all(grouped):
    return [summarize(ns, name, uid, pod) for (ns, name, uid), pod in sorted(grouped.items())]


def is_static(pod, name, namespace=None, sources=(protocol.SOURCE_FILE,)):
    """True when ``pod`` (a summary) is the static pod ``name`` (the kubelet's name,
    ``<pod>-<node>``) from one of ``sources``: a pod of the same name from the API server is
    another pod. ``namespace`` None matches any namespace."""
    return (
        pod["pod"] == name
        and (namespace is None or pod["namespace"] == namespace)
        and pod.get("annotations", {}).get(protocol.CONFIG_SOURCE_ANNOTATION) in sources
    )


def find(pods, name, namespace=None, sources=(protocol.SOURCE_FILE,)):
    """The running (else any) static pod ``name`` among summaries, or None."""
    matches = [p for p in pods if is_static(p, name, namespace, sources)]
    if not matches:
        return None
    return max(matches, key=lambda p: (p["phase"] == "Running", p["created"] or 0))


def container_summary(pod):
    parts = []
    for c in pod["containers"]:
        extra = "" if c["exit_code"] is None else ", exit code %s" % c["exit_code"]
        if c.get("reason"):
            extra += ", %s" % c["reason"]
        parts.append("%s: %s, %d restarts%s" % (c["name"], c["state"], c["restarts"], extra))
    return "; ".join(parts) or "no containers"
