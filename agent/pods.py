"""Pods as the kubelet sees them: identity and phase, from the runtime's records.

The records come from ``runtime.cri`` or ``runtime.docker``, both in one shape:
{(namespace, name, uid): {"sandboxes": [newest first], "sandbox": newest or None,
"containers": {name: newest record}, "annotations", "labels"}}.
"""

from . import protocol


def summarize(namespace, name, uid, pod):
    """One pod's summary, in the facts answer's shape.

    Phase, as the kubelet's own reading of its containers would give it
    (pkg/kubelet/kubelet_pods.go getPhase, simplified to what the runtime shows):
    Running when the newest sandbox is ready and every container's newest instance runs;
    Failed when a container exited with a non-zero code and the pod is not running;
    Succeeded when every container exited with code 0; Pending otherwise.
    """
    containers = [
        {
            "name": cname,
            "state": c["state"],
            "restarts": int(c.get("restarts") or 0),
            "exit_code": c.get("exit_code"),
            "reason": c.get("reason"),
            "created": c.get("created"),
        }
        for cname, c in sorted(pod["containers"].items())
    ]
    sandbox = pod.get("sandbox")
    sandbox_up = sandbox is not None and sandbox["state"] == "running"
    running = [c["state"] == "running" for c in containers]
    if sandbox_up and containers and all(running):
        phase = "Running"
    elif (
        containers
        and not all(running)
        and any(c["state"] != "running" and (c["exit_code"] or 0) != 0 for c in containers)
    ):
        phase = "Failed"
    elif containers and all(c["state"] == "exited" and c["exit_code"] == 0 for c in containers):
        phase = "Succeeded"
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
