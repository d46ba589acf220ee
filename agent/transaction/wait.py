"""Waiting for pods: until each changed pod runs (and, with probes, is ready) and stays up for
the stable time, or fails, or the kubelet says it will not run it, or time runs out."""

from ..runtime import pods as podlib


def pod_settled(change, pods, stable_since, stable_for, now, prober=None):
    """None while waiting, True when done, or an error string when the pod failed.

    With a ``prober`` (probes.prober.PodProber), a running pod is up only while its startup and
    readiness probes pass; the stable time counts from when they last started passing.

    While one pod replaces another both can exist under the same name for a moment; the
    one that counts is the pod with the expected UID (a rollback puts the old content back
    at the same path, so the old pod's UID returns), or else any UID but the replaced one.
    """
    if change.action == "remove":
        same_name = [
            p
            for p in pods
            if podlib.is_static(p, change.kubelet_name, change.namespace, change.sources)
        ]
        return True if not same_name else None
    pod = judged_pod(change, pods)
    if pod is None:
        stable_since.pop(change.name, None)
        return None
    if pod["phase"] == "Failed":
        return "the pod failed (%s)" % podlib.container_summary(pod)
    if pod["phase"] != "Running":
        stable_since.pop(change.name, None)
        if pod["restarts"] >= 2:
            return "containers keep restarting (%s)" % podlib.container_summary(pod)
        return None
    if prober is not None and not prober.ready(pod, now):
        stable_since.pop(change.name, None)
        return None
    first = stable_since.setdefault(change.name, (now, pod["uid"], pod["restarts"]))
    if first[1] != pod["uid"]:
        stable_since[change.name] = (now, pod["uid"], pod["restarts"])
        return None
    if pod["restarts"] != first[2]:
        return "containers keep restarting (%s)" % podlib.container_summary(pod)
    return True if now - first[0] >= stable_for else None


def judged_pod(change, pods):
    """The pod a change waits for (see ``pod_settled``), or None while there is none."""
    same_name = [
        p
        for p in pods
        if podlib.is_static(p, change.kubelet_name, change.namespace, change.sources)
    ]
    if change.want_uid:
        candidates = [p for p in same_name if p["uid"] == change.want_uid]
    else:
        candidates = [p for p in same_name if p["uid"] != change.before_uid]
    if not candidates:
        return None
    return max(candidates, key=lambda p: p["phase"] == "Running")


def crash_output(node, pod):
    """What each crashed container of ``pod`` wrote last (``messages.container_output``
    entries), so that "exit code 1" comes with why."""
    from ..protocol import messages

    found = []
    for c in pod["containers"]:
        if c["state"] != "exited" or not c["exit_code"]:
            continue
        output = node.container_output(c)
        if output:
            lines, cut = output
            found.append(messages.container_output(container=c["name"], lines=lines, cut=cut))
    return found


def _note_output(node, change, pods):
    pod = judged_pod(change, pods)
    if pod is not None:
        output = crash_output(node, pod)
        if output:
            change.result["output"] = output


def wait_for(node, changes, timeout, stable_for):
    """Poll the runtime until every change settles; return {pod name: True | error}."""
    from ..probes.prober import PodProber
    from ..probes.runner import NodeRunner

    clock = node.clock
    deadline = clock.monotonic() + timeout
    stable_since = {}
    outcome = {}
    # Probes are the new pod's: a rolled-back pod (restore) is waited for by today's rule.
    # No attempt runs past the deadline (a probe's timeoutSeconds may be longer than the
    # wait): the agent answers in time, within the control host's budget for the call.
    runner = NodeRunner(node)
    probers = {
        c.name: PodProber(c.probes, runner, clock, deadline)
        for c in changes
        if c.probes and c.action not in ("remove", "restore")
    }
    kubelet_log = node.kubelet_log(clock.time() - 1)
    log_every = 2.0
    next_log = clock.monotonic() + 1.0
    while True:
        pods = node.pods()["pods"]
        now = clock.monotonic()
        if now >= next_log:
            next_log = now + log_every
            kubelet_log.poll()  # reads on from the last poll (kubelet_log.Journal.read)
        for change in changes:
            if change.name in outcome:
                continue
            if change.action not in ("remove", "restore", "unchanged"):
                # The kubelet said it will not run this file or pod: no point waiting.
                reason = kubelet_log.failure(
                    change.path, change.kubelet_name, change.namespace, change.before_uid
                )
                if reason:
                    outcome[change.name] = reason
                    change.result["phase"] = (change.find(pods) or {}).get("phase", "Absent")
                    continue
            prober = probers.get(change.name)
            verdict = pod_settled(change, pods, stable_since, stable_for, now, prober)
            if verdict is not None:
                outcome[change.name] = verdict
                if verdict is not True and change.action not in ("remove", "restore"):
                    _note_output(node, change, pods)
                change.result["phase"] = (change.find(pods) or {}).get("phase", "Absent")
        if len(outcome) == len(changes):
            return outcome
        # The clock again: the probes above may have used the rest of the time.
        if now >= deadline or (probers and clock.monotonic() >= deadline):
            for change in changes:
                if change.name not in outcome:
                    pod = change.find(pods)
                    change.result["phase"] = pod["phase"] if pod else "Absent"
                    outcome[change.name] = "not settled within %ds (%s)" % (
                        timeout,
                        "pod %s" % pod["phase"] if pod else "no pod seen",
                    )
                    prober = probers.get(change.name)
                    if pod and prober is not None and prober.why:
                        outcome[change.name] += ": not ready: %s" % prober.why
                    if kubelet_log.journal.problem:  # no reason could be read from it
                        outcome[change.name] += "; the kubelet's journal could not be read: %s" % (
                            kubelet_log.journal.problem
                        )
            return outcome
        clock.sleep(0.5)
