"""The apply call: a plan made by the control host, carried out under the node lock."""

import os

from .errors import AgentError
from .files import remove_stale_temporaries
from .kubelet import apply_kubelet, check_kubelet_files
from .lock import NodeLock
from .manifests import PodChange, undo_all, wait_for
from .protocol import MANIFEST_SUFFIX
from .state import load_state


def apply(node, request):
    node_name = request["node_name"]
    directory = request.get("manifest_dir")
    timeout = float(request.get("timeout", 300))
    stable_for = float(request.get("stable_for", 5))
    answer = {"kubelet_restarted": False, "pods": []}
    specs = request.get("changes") or []
    if (specs or request.get("wait_running")) and not directory:
        raise AgentError("no manifest directory given for the pods to change")
    with NodeLock(node, request.get("holder", "spctl"), float(request.get("wait_lock", 0))):
        # Every check comes before any write: a plan made from stale facts changes nothing.
        state = load_state(node)
        changes = [PodChange(node, spec, directory, node_name) for spec in specs]
        for change in changes:
            change.check(state)
        if request.get("kubelet"):
            check_kubelet_files(request["kubelet"])
            answer["kubelet_restarted"] = apply_kubelet(node, request["kubelet"])["restarted"]
        if directory:
            os.makedirs(directory, exist_ok=True)
            remove_stale_temporaries(directory)
        current = node.pods()["pods"]
        for change in changes:
            pod = change.find(current)
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
                    node,
                    {"pod": name, "action": "unchanged", "file": name + MANIFEST_SUFFIX},
                    directory,
                    node_name,
                )
            )
        outcome = wait_for(node, waits, timeout, stable_for) if waits else {}
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
            restored = wait_for(node, failed, timeout, stable_for)
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
