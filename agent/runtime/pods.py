"""Pods as the kubelet sees them: identity and phase, from the runtime's records.

The records come from ``runtime.cri`` or ``runtime.docker``, both in one shape:
{(namespace, name, uid): {"sandboxes": [newest first], "sandbox": newest or None,
"containers": {name: newest record}, "annotations", "labels"}}.
"""

from .. import protocol
from ..protocol.pod_summary import last_exit

RESTART_ALWAYS = (
    "Always"  # the kubelet's default (pkg/apis/core/v1/defaults.go SetDefaults_PodSpec)
)
RESTART_ON_FAILURE = "OnFailure"
RESTART_NEVER = "Never"


def will_restart(restart_policy, exit_code):
    """Whether the kubelet restarts a container that exited with ``exit_code``
    (kubecontainer.ShouldContainerBeRestarted, pkg/kubelet/container/helpers.go): Always
    restarts every exit, OnFailure a non-zero one, Never none."""
    if restart_policy == RESTART_NEVER:
        return False
    return restart_policy != RESTART_ON_FAILURE or (exit_code or 0) != 0


def pod_phase(restart_policy, containers, sandbox_up=True):
    """The pod's phase as the kubelet's getPhase (pkg/kubelet/kubelet_pods.go) computes it,
    from each container's newest instance as the runtime holds it (``containers``: dicts
    with state running | created | exited | unknown, exit_code, restarts, and ``stale``
    for an instance of an older sandbox). ``restart_policy`` None: not known.

    getPhase counts a container whose status is Running as running; Terminated, or Waiting
    with a last termination (exited and about to be restarted, or in CrashLoopBackOff), as
    stopped, and succeeded when its exit code is 0; Waiting without one (never started) as
    waiting. Then: any waiting -> Pending; any running -> Running; all stopped -> Running
    under restartPolicy Always (every container is being restarted), else Succeeded when
    all exited 0, else Failed under Never and Running under OnFailure (being restarted).
    So a crash of a restartPolicy Always pod never makes it Failed: its restarts count.

    The runtime view maps onto those statuses so: running is running; exited is stopped; a
    container created but not started is waiting, or stopped when an earlier instance ran
    (restarts > 0: the kubelet shows that one's termination); an instance of an older
    sandbox while a newer sandbox runs is one not created yet in the new one (waiting:
    when the kubelet recreates a sandbox it recreates every container in it,
    computePodActions in pkg/kubelet/kuberuntime/kuberuntime_manager.go), so a pod coming
    back after a rollback reads Pending, not the exit code its old containers got when
    they were stopped.

    Init containers: the kubelet runs them before the containers, and a failed one fails
    a restartPolicy Never pod; the runtime shows them as containers like the others, and
    the agent does not know which are init containers, so they count as containers (a
    finished init container reads as stopped).

    A pod whose policy is not known (one spctl was not told about) and whose sandbox is
    down with nothing running is read as finished: Succeeded when every container exited
    0, else Failed. That is what the runtime shows once the kubelet ended a Never or
    OnFailure pod (it stops a finished pod's sandbox) or killed a removed pod; an Always
    pod's sandbox is recreated at once.
    """
    running = waiting = stopped = succeeded = unknown = 0
    for c in containers:
        state = c.get("state")
        if state == "running" and not c.get("stale"):
            running += 1
        elif state == "exited" and not c.get("stale"):
            stopped += 1
            succeeded += (c.get("exit_code") or 0) == 0
        elif state == "created" or c.get("stale"):
            if c.get("restarts") and not c.get("stale"):
                stopped += 1
            else:
                waiting += 1
        else:
            unknown += 1
    if not containers or waiting:
        return "Pending"
    if running and not unknown:
        return "Running"
    if running or unknown or not stopped:
        return "Pending"
    if restart_policy is None:
        if not sandbox_up:
            return "Succeeded" if stopped == succeeded else "Failed"
        restart_policy = RESTART_ALWAYS
    if restart_policy == RESTART_ALWAYS:
        return "Running"
    if stopped == succeeded:
        return "Succeeded"
    return "Failed" if restart_policy == RESTART_NEVER else "Running"


def summarize(namespace, name, uid, pod, restart_policy=None):
    """One pod's summary, in the facts answer's shape: its phase (``pod_phase``, with
    ``restart_policy`` when known), ``ready`` when its sandbox is up and every container
    runs (the kubelet's ContainersReady, before readiness probes), the restarts, and per
    container its state, exit code and the last termination the runtime still holds
    (the kubelet keeps one dead instance per container for it: ``last_exit_code``,
    ``last_reason``); ``stale``: an instance of an older sandbox (see ``pod_phase``)."""
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
                "last_exit_code": c.get("last_exit_code"),
                "last_reason": c.get("last_reason"),
                "created": c.get("created"),
                "stale": stale,
                "log_path": None if stale else c.get("log_path"),
            }
        )
    annotations = pod.get("annotations") or {}
    summary = {
        "pod": name,
        "namespace": namespace,
        "uid": uid,
        "phase": pod_phase(restart_policy, containers, sandbox_up),
        "restarts": sum(c["restarts"] for c in containers),
        "restart_policy": restart_policy,
        "created": sandbox["created"] if sandbox else None,
        "sandbox_id": sandbox["id"] if sandbox else None,
        "sandbox_ready": sandbox_up,
        "sandboxes": len(pod.get("sandboxes") or ([sandbox] if sandbox else [])),
        "source": annotations.get(protocol.CONFIG_SOURCE_ANNOTATION),
        "annotations": annotations,
        "containers": containers,
    }
    summary["ready"] = containers_up(summary)
    return summary


def containers_up(summary):
    """Whether a pod summary's sandbox is up and every container runs (its ``ready`` before
    any readiness probe had a say)."""
    containers = summary.get("containers") or []
    return (
        bool(summary.get("sandbox_ready", True))
        and bool(containers)
        and all(c.get("state") == "running" and not c.get("stale") for c in containers)
    )


def with_policy(summary, restart_policy):
    """``summary`` with its phase as ``restart_policy`` makes it (the runtime does not hold a
    pod's restartPolicy: the control host names it, from the pod's manifest)."""
    if restart_policy is None:
        return summary
    summary["restart_policy"] = restart_policy
    containers = summary.get("containers") or []
    summary["phase"] = pod_phase(restart_policy, containers, summary.get("sandbox_ready", True))
    return summary


def pod_name_of(name, pod_names):
    """The pod of ``pod_names`` that the kubelet pod ``name`` (``<pod name>-<node name>``)
    is: the longest it starts with, so web-x-node1 is pod web-x's even when web is named
    too; None when none matches."""
    matches = [p for p in pod_names if name.startswith(p + "-")]
    return max(matches, key=len) if matches else None


def policy_for(name, policies):
    """The restartPolicy in ``policies`` ({pod name: policy}) of the kubelet pod ``name``,
    None when it is none of theirs (``pod_name_of``)."""
    pod = pod_name_of(name, policies)
    return None if pod is None else policies[pod]


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
    """The ready (else running, else any) static pod ``name`` among summaries, newest
    first, or None: the pod being replaced may still read Running while it stops."""
    matches = [p for p in pods if is_static(p, name, namespace, sources)]
    if not matches:
        return None
    return max(
        matches, key=lambda p: (bool(p.get("ready")), p["phase"] == "Running", p["created"] or 0)
    )


def container_summary(pod):
    parts = []
    for c in pod["containers"]:
        code, reason = last_exit(c)
        if code is None:
            extra = ""
        elif c.get("state") == "exited":
            extra = ", exit code %s" % code
        else:
            extra = ", last exit code %s" % code
        if reason:
            extra += ", %s" % reason
        parts.append("%s: %s, %d restarts%s" % (c["name"], c["state"], c["restarts"], extra))
    return "; ".join(parts) or "no containers"
