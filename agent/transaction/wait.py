"""Waiting for pods: until each changed pod runs (and, with probes, is ready) and stays up for
the stable time, or fails, or the kubelet says it will not run it, or time runs out."""

from ..protocol import SOURCE_FILE, SOURCE_HTTP
from ..runtime import pods as podlib

#: Restarts of one container during one wait after which the pod keeps crashing. The kubelet restarts a
#: container that exited at once the first time and then after a back-off that doubles
#: (pkg/kubelet/kuberuntime/kuberuntime_manager.go doBackOff, flowcontrol.Backoff; 10 s up
#: to 300 s, pkg/kubelet/kubelet.go): a container that exits while a dependency comes up is
#: restarted and the stable window starts over; the third restart within one wait is a
#: crash that keeps recurring.
CRASH_LIMIT = 3
BACKOFF_INITIAL = 10.0
BACKOFF_MAX = 300.0
# How far back a wait for pods of the manifest URL reads the kubelet's log. The control host
# starts it once the kubelet has fetched the served body (verbs/source.py URLSource
# before_apply), so the kubelet's word on that body is a few seconds older than the wait. An
# earlier body's rejection in that time does not count: the kubelet logs "Successfully read
# pods from URL" at its next good read, the fetch of this body when it is good, which clears
# it. A "Successfully" logged during the wait clears nothing: it is this body fetched again,
# which http.go counts as a good read even when it refused it (kubelet_log.FailureWatch).
URL_LOOK_BACK = 60.0


def next_backoff(crashes):
    """The kubelet's wait before the next restart of a container restarted ``crashes``
    times: none before the first restart, then 10 s doubling up to 300 s. Counted from the
    restarts seen during this wait, so it never exceeds the kubelet's (a container that ran
    10 minutes starts over at no wait)."""
    if crashes <= 0:
        return 0.0
    return min(BACKOFF_INITIAL * 2 ** (crashes - 1), BACKOFF_MAX)


class Windows:
    """What one wait remembers of each change between two looks at the runtime: when its
    pod's stable window began (``began``: name -> (time, uid, restarts)) and each
    container's restarts when the pod was first seen (``first_seen``: name -> (uid,
    {container: restarts}))."""

    def __init__(self):
        self.began = {}
        self.first_seen = {}


def pod_settled(change, pods, windows, stable_for, now, *, prober=None, left=None, crash_loop=None):
    """None while waiting, True when done, or an error string when the pod failed.

    The pod is up when its sandbox runs and every container runs (with a ``prober``
    (probes.prober.PodProber): and its startup and readiness probes pass); it is done when
    it stayed up ``stable_for`` seconds. A crash alone fails nothing: the phase is the
    kubelet's (``runtime.pods.pod_phase`` with the change's restartPolicy), so a crashed
    container of a restartPolicy Always pod leaves it Running while the kubelet restarts
    it, and the stable window starts over. The change fails when

    - the pod is Failed (getPhase says so only under restartPolicy Never): "the pod
      failed";
    - one of its containers restarted ``CRASH_LIMIT`` times during the wait: "keeps
      crashing";
    - a container waits for its restart and the kubelet's back-off (its CrashLoopBackOff
      message ``crash_loop``, (container, seconds, text), else ``next_backoff``) plus the
      stable time is more than the ``left`` seconds of the wait: "CrashLoopBackOff".

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
        windows.began.pop(change.name, None)
        return None
    podlib.with_policy(pod, change.restart_policy)
    crashes = _crashes(windows, change.name, pod)
    if pod["phase"] == "Failed":
        return "the pod failed (%s)" % podlib.container_summary(pod)
    worst = max(crashes.values() or [0])
    if worst >= CRASH_LIMIT:
        return "the pod keeps crashing: %s restarted %d times during the wait (%s)" % (
            next(name for name, n in crashes.items() if n == worst),
            worst,
            podlib.container_summary(pod),
        )
    if not pod.get("ready"):
        windows.began.pop(change.name, None)
        return _backed_off(change, pod, crashes, stable_for, left, crash_loop)
    if prober is not None and not prober.ready(pod, now):
        windows.began.pop(change.name, None)
        return None
    if change.action == "adopt":
        # The same pod, rewritten in other bytes: the kubelet keeps it (its UID is the hash
        # of the decoded, defaulted pod), so there is nothing to wait out; it only has to run.
        return True
    first = windows.began.get(change.name)
    if first is None or first[1] != pod["uid"] or first[2] != pod["restarts"]:
        # New, or restarted since the window began: the window starts (over) now.
        windows.began[change.name] = (now, pod["uid"], pod["restarts"])
        return True if stable_for <= 0 else None
    return True if now - first[0] >= stable_for else None


def _crashes(windows, name, pod):
    """{container: restarts during this wait}: each container's restarts since the pod
    (this UID) was first seen in the wait. Per container, as the kubelet backs off each
    container on its own (kuberuntime_manager.go doBackOff keys the back-off by container):
    three sidecars that each crash once while a dependency comes up are not one crash loop."""
    seen = windows.first_seen.get(name)
    if seen is None or seen[0] != pod["uid"]:
        seen = windows.first_seen[name] = (pod["uid"], {})
    first = seen[1]
    crashes = {}
    for c in pod.get("containers") or []:
        restarts = int(c.get("restarts") or 0)
        crashes[c["name"]] = restarts - first.setdefault(c["name"], restarts)
    return crashes


def _backed_off(change, pod, crashes, stable_for, left, crash_loop):
    """The CrashLoopBackOff failure when a container of ``pod`` waits for a restart that
    comes too late for the pod to then stay up ``stable_for`` seconds, else None."""
    policy = change.restart_policy or podlib.RESTART_ALWAYS
    waiting = [
        c
        for c in pod.get("containers") or []
        if c.get("state") == "exited" and podlib.will_restart(policy, c.get("exit_code"))
    ]
    if not waiting or left is None:
        return None
    names = {c["name"] for c in waiting}
    if crash_loop is not None and crash_loop[0] in names:
        name, backoff, said = crash_loop
    else:
        name, backoff, said = waiting[0]["name"], next_backoff(crashes[waiting[0]["name"]]), None
    if backoff <= 0 or backoff + stable_for <= left:
        return None  # restarted at once, or in time: the wait goes on
    text = (
        "the pod is in CrashLoopBackOff: the kubelet restarts %s only after a back-off of "
        "%gs, and %ds of the wait are left for it to then stay up %gs (%s)"
        % (name, backoff, max(left, 0), stable_for, podlib.container_summary(pod))
    )
    return text + ("; the kubelet: %s" % said if said else "")


def _kubelet_says(kubelet_log, change):
    """The kubelet's message that this change's file or pod will not run, or None."""
    if change.action in ("remove", "restore"):
        return None
    return kubelet_log.failure(
        change.path if SOURCE_FILE in change.sources else None,
        change.kubelet_name,
        change.namespace,
        change.before_uid,
        url=SOURCE_HTTP in change.sources,
    )


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
    return max(candidates, key=lambda p: (bool(p.get("ready")), p["phase"] == "Running"))


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
    windows = Windows()
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
    watched = [c for c in changes if c.action not in ("remove", "restore")]
    url_only = bool(watched) and all(SOURCE_HTTP in c.sources for c in watched)
    start = clock.time() - 1
    kubelet_log = node.kubelet_log(start - (URL_LOOK_BACK if url_only else 0))
    kubelet_log.counts_from = start  # before it: the URL's word only
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
            # The kubelet said it will not run this file or pod: no point waiting.
            reason = _kubelet_says(kubelet_log, change)
            if reason:
                outcome[change.name] = reason
                _note_output(node, change, pods)
                change.result["phase"] = (change.find(pods) or {}).get("phase", "Absent")
                continue
            prober = probers.get(change.name)
            crash_loop = kubelet_log.crash_loop(
                change.path, change.kubelet_name, change.namespace, change.before_uid
            )
            verdict = pod_settled(
                change,
                pods,
                windows,
                stable_for,
                now,
                prober=prober,
                left=deadline - now,
                crash_loop=crash_loop,
            )
            if isinstance(verdict, str) and change.action not in ("remove", "restore"):
                # The runtime shows the failure as soon as the kubelet logs why (a start
                # that failed: "exit code 128, StartError"); its word says more. One more
                # read of its journal, a moment later, as the line may be on its way.
                clock.sleep(0.5)
                kubelet_log.poll()
                verdict = _kubelet_says(kubelet_log, change) or verdict
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
                    elif pod and pod["restarts"]:
                        outcome[change.name] += ": it did not stay up for %gs (%s)" % (
                            stable_for,
                            podlib.container_summary(pod),
                        )
                    if change.action not in ("remove", "restore"):
                        _note_output(node, change, pods)
                    if kubelet_log.journal.problem:  # no reason could be read from it
                        outcome[change.name] += "; the kubelet's journal could not be read: %s" % (
                            kubelet_log.journal.problem
                        )
            return outcome
        clock.sleep(0.5)
