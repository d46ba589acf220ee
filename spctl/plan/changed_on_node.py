"""A file spctl owns whose content changed on the node since spctl wrote it.

The agent records the sha256 of every manifest it writes (``facts.owned[path]["sha256"]``).
A file whose sha256 differs from that record was rewritten by someone else: most often
``kubeadm upgrade apply``, which writes each new control-plane manifest in a temporary
directory, moves the current one to a backup directory and moves the new one into
/etc/kubernetes/manifests (``upgradeComponent`` in kubernetes
cmd/kubeadm/app/phases/upgrade/staticpods.go); or a hand edit. Overwriting it would undo
that change without a word (after an upgrade, put kube-apiserver back on its old version),
so deploy, remove and rollback refuse such a file for that node, unless ``--force``; restart
refuses it always (it would write the edit as spctl's own).

What spctl wrote is known only by its sha256: the agent keeps the bytes each change
*replaced* (its backups), not the bytes it wrote. When the inventory still renders that
sha256, the rendering is what spctl wrote, and the refusal shows exactly what changed;
otherwise it shows the rendering against the node's file, and says so.
"""

from __future__ import annotations

import difflib
import hashlib
from typing import Any, Optional

from spctl.desired.pod_identity import same_pod
from spctl.facts import NodeFacts
from spctl.plan.model import PlanError, redacted, shown

#: The manifest state ``status`` shows for such a file (``spctl.plan.status``).
STATE = "changed-on-node"

#: The most lines of a refusal's diff: enough to see what kind of change it is (an image
#: tag, a flag); the whole file is on the node, and a rewrite of all of it would bury the
#: refusal's ways on below hundreds of lines.
DIFF_LINES = 40


def changed_on_node(facts: NodeFacts, path: str, sha256: Optional[str]) -> bool:
    """Whether ``path`` (now holding content of ``sha256``) is a file spctl owns whose
    content is not what spctl recorded when it wrote it. A record without a sha256 (written
    by an older spctl) proves nothing either way: not changed."""
    recorded = (facts.owned.get(path) or {}).get("sha256")
    return recorded is not None and sha256 is not None and sha256 != recorded


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


#: How such a file compares with the inventory's rendering of its pod (:func:`compared`).
TAKEN_IN = "taken in"
BYTES_ONLY = "bytes only"
OTHER_POD = "other pod"


def compared(facts: NodeFacts, path: str, sha256: Optional[str], rendered: str) -> str:
    """For ``path``, which changed on the node (now of content ``sha256``): ``TAKEN_IN``
    when the inventory renders the node's version (its bytes, or its pod while the
    rendering is not what spctl wrote: ``spctl import`` took it in, in spctl's canonical
    YAML), so deploy adopts it; ``BYTES_ONLY`` when it is still the pod spctl wrote and
    the inventory renders (a comment, another spelling: the kubelet would not restart it,
    but the bytes are someone's edit, which ``spctl import`` cannot take in); else
    ``OTHER_POD``."""
    rendered_sha = _sha256(rendered)
    if sha256 == rendered_sha:
        return TAKEN_IN
    now = facts.file(path)
    if now is None or not same_pod(now, rendered):
        return OTHER_POD
    recorded = (facts.owned.get(path) or {}).get("sha256")
    return BYTES_ONLY if rendered_sha == recorded else TAKEN_IN


def what_changed(
    facts: NodeFacts, path: str, rendered: Optional[str], redact: tuple[str, ...] = ()
) -> str:
    """A unified diff of what changed in ``path``, with a line saying what it compares: at
    most ``DIFF_LINES`` lines of it, undecodable bytes shown as U+FFFD and the plan's
    secrets (``redact``) replaced, as the kubelet diff shows them (``Plan.kubelet_diff``)."""
    now = facts.file(path)
    if now is None:
        return "(spctl could not read the file's content)\n"
    recorded = (facts.owned.get(path) or {}).get("sha256")
    if rendered is not None and _sha256(rendered) == recorded:
        before, label, intro = (
            rendered,
            "as spctl wrote it",
            "what spctl wrote -> the node's file now",
        )
    elif rendered is not None:
        before, label = rendered, "as the inventory renders it now"
        intro = (
            "spctl keeps no copy of what it wrote and the inventory renders something else "
            "now, so this is the inventory's rendering -> the node's file now"
        )
    else:
        return (
            "(spctl keeps no copy of what it wrote, only its sha256 "
            f"{recorded}; the file's sha256 is now {_sha256(now)})\n"
        )
    diff = bounded_diff(path, before, label, now)
    return redacted(f"{intro}:\n{diff or _SAME_TEXT}", redact)


def bounded_diff(path: str, before: str, label: str, now: str) -> str:
    """``before`` (labelled) -> the node's file ``now``, as a unified diff of at most
    ``DIFF_LINES`` lines, and how many more were left out."""
    lines = list(
        difflib.unified_diff(
            shown(before).splitlines(keepends=True),
            shown(now).splitlines(keepends=True),
            fromfile=f"{path} ({label})",
            tofile=f"{path} (on the node now)",
        )
    )
    diff = "".join(line if line.endswith("\n") else line + "\n" for line in lines[:DIFF_LINES])
    if len(lines) > DIFF_LINES:
        diff += f"… {len(lines) - DIFF_LINES} more lines\n"
    return diff


_SAME_TEXT = "(the same text, other bytes)\n"


def refusal(
    *,
    node: str,
    pod: str,
    path: str,
    facts: NodeFacts,
    verb: str,
    rendered: Optional[str],
    redact: tuple[str, ...] = (),
    bytes_only: bool = False,
) -> PlanError:
    """The error of a ``verb`` (deploy, remove, rollback, restart; url: deploy's switch to URL
    mode, which removes the file) refused for ``node`` because ``path`` (pod ``pod``)
    changed on the node: the file, what changed, and the two ways on. ``rendered``: the
    inventory's rendering of the pod (None: not known to this verb); ``redact``: the
    plan's secrets (``Plan.redact``); ``bytes_only``: the node's file is still the pod
    spctl wrote, in other bytes (a deploy would rewrite them, with no restart)."""
    changed = what_changed(facts, path, rendered, redact)
    if bytes_only:
        return PlanError(
            f"node {node}: {path} changed on node since spctl wrote it, in its bytes only: it "
            "is still the pod the inventory renders (the kubelet would not restart it), but "
            "spctl will not rewrite someone's edit silently.\n"
            f"What changed, {changed}"
            f"To discard the edit: `spctl deploy {pod} --node {node} --force` rewrites it as "
            "rendered; nothing restarts, and the node's version is kept in spctl's backups on "
            "the node. spctl writes canonical YAML (no comments, one spelling), so `spctl "
            "import` cannot keep these bytes: put what matters into the template."
        )
    overwrite = {
        "deploy": "overwrite it",
        "remove": "delete it",
        "rollback": "replace it with an older version",
        "url": "remove it (the node now gets the pod from its manifest URL)",
        "restart": "rewrite it to restart the pod (spctl would then take the edit for its own)",
    }[verb]
    force = {
        "deploy": f"`spctl deploy {pod} --node {node} --force` puts spctl's version back",
        "remove": f"`spctl remove {pod} --node {node} --force` removes it anyway",
        "rollback": f"`spctl rollback {pod} --node {node} --force` rolls it back anyway",
        "url": f"`spctl deploy {pod} --node {node} --force` removes it anyway",
        "restart": f"`spctl deploy {pod} --node {node} --force` puts spctl's version back, "
        "which restarts the pod",
    }[verb]
    return PlanError(
        f"node {node}: {path} changed on node since spctl wrote it (`kubeadm upgrade` "
        f"rewrites the control-plane manifests; or a hand edit): spctl will not {overwrite} "
        "silently.\n"
        f"What changed, {changed}"
        f"To keep the node's version: `spctl import {pod} --force`, with every node that runs "
        f"it selected (e.g. `--node {node}`), takes it into the template; the next deploy then "
        "adopts the file as it is.\n"
        f"To discard it: {force} (the node's version is kept in spctl's backups on the node)."
    )


# -- a pod's files ----------------------------------------------------------------------------


def file_changed_on_node(facts: NodeFacts, path: str, sha256: Optional[str]) -> bool:
    """As :func:`changed_on_node`, for a pod's file (``facts.owned_files``)."""
    recorded = (facts.owned_files.get(path) or {}).get("sha256")
    return recorded is not None and sha256 is not None and sha256 != recorded


def file_refusal(
    *, node: str, pod: str, path: str, facts: NodeFacts, verb: str, desired: Any = None
) -> PlanError:
    """The error of a ``verb`` (deploy, remove, rollback) refused because the pod's file ``path``
    changed on the node since spctl wrote it: what changed (a secret's sha256 only) and
    the two ways on. ``desired``: the file the inventory gives it now
    (``render.DesiredFile``), None for a removal."""
    recorded = (facts.owned_files.get(path) or {}).get("sha256")
    state = facts.pod_files.get(path)
    now_sha = state.sha256 if state is not None else None
    was_secret = bool((facts.owned_files.get(path) or {}).get("secret"))
    secret = desired is None or desired.secret or was_secret
    now = None if secret else facts.file(path)
    if secret or now is None:
        changed = (
            f"its sha256 was {recorded} when spctl wrote it and is {now_sha} now"
            + (
                " (a secret, or a file spctl does not read back: no content is shown)"
                if secret
                else ""
            )
            + "\n"
        )
    else:
        written = desired.content.decode("utf-8", "surrogateescape")
        label = (
            "as spctl wrote it"
            if desired.sha256 == recorded
            else "as the inventory gives it now (spctl keeps no copy of what it wrote)"
        )
        changed = bounded_diff(path, written, label, now) or _SAME_TEXT
    overwrite = {
        "deploy": "overwrite it",
        "remove": "delete it",
        "rollback": "replace it with an older version",
    }[verb]
    force = {
        "deploy": f"`spctl deploy {pod} --node {node} --force` puts spctl's version back",
        "remove": f"`spctl remove {pod} --node {node} --force` removes it anyway",
        "rollback": f"`spctl rollback {pod} --node {node} --force` rolls it back anyway",
    }[verb]
    return PlanError(
        f"node {node}: {path} (a file of pod {pod}) changed on node since spctl wrote it (a "
        f"hand edit, another tool): spctl will not {overwrite} silently.\n"
        f"What changed: {changed}"
        "To keep the node's version: put it into the file's template or source in the "
        "inventory; the next deploy then finds the two the same.\n"
        f"To discard it: {force} (the node's version is kept in spctl's backups on the node)."
    )
