"""spctl's restart annotation: how ``spctl restart`` gets a new pod with the same content, and
how deploy, diff and status tell such a pod from a change.

The kubelet starts a new static pod only when the pod's UID changes, and it takes the UID
from a hash of the decoded, defaulted pod (``applyDefaults`` in
``pkg/kubelet/config/common.go``, see ``spctl.desired.pod_identity``). An annotation is part of
that pod: the node's own manifest written again with ``spctl.io/restarted-at: <RFC 3339
time>`` in ``metadata.annotations`` is a new pod, and nothing else of it changes. That is
what ``kubectl rollout restart`` does to a Deployment's pod template with
``kubectl.kubernetes.io/restartedAt`` (kubernetes
``staging/src/k8s.io/kubectl/pkg/polymorphichelpers/objectrestarter.go``).

The inventory never renders the annotation, so the one rule every comparison and every write
follows is: **the annotation a node's file carries is kept** (:func:`kept_restart`). The
rendering is compared with the node's file, and written, with the node's annotation added.
So a pod restarted since its last deploy is up to date (a deploy does not restart it again);
a rewrite of the same pod in other bytes (an adopt) keeps it, so nothing restarts; and a
real change keeps it too, harmlessly (that change restarts the pod anyway).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, Optional

from spctl.desired.render import DesiredPod
from spctl.desired.yamlio import ManifestError, dump_manifest, parse_manifest

#: The annotation ``spctl restart`` sets (kubectl's is ``kubectl.kubernetes.io/restartedAt``).
RESTARTED_AT = "spctl.io/restarted-at"


def rfc3339(at: datetime, precise: bool = False) -> str:
    """``at`` in UTC as RFC 3339 (kubectl writes ``time.RFC3339``): to the second, or with
    microseconds when ``precise`` (a second restart within the same second)."""
    utc = at.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if precise else "%Y-%m-%dT%H:%M:%SZ")


def restarted_at(text: Optional[str]) -> Optional[str]:
    """The restart annotation of a manifest; None when it has none (or does not read)."""
    if text is None:
        return None
    try:
        doc = parse_manifest(text, source="<node>")
    except ManifestError:
        return None
    metadata = doc.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    value = annotations.get(RESTARTED_AT) if isinstance(annotations, dict) else None
    return value if isinstance(value, str) else None


def restarted(text: str, value: str, source: str) -> str:
    """``text`` (a manifest) in spctl's canonical form with the restart annotation set to
    ``value``: in place when it is there, else last among the annotations. ``source`` names
    the manifest in an error (a file that does not read as a manifest)."""
    doc = parse_manifest(text, source=source)
    metadata = doc.get("metadata")
    if not isinstance(metadata, dict):
        raise ManifestError(f"{source}: metadata is not a mapping", source=source)
    annotations: Any = metadata.get("annotations")
    if not isinstance(annotations, dict):  # absent, or null (the same to the kubelet)
        annotations = metadata["annotations"] = {}
    annotations[RESTARTED_AT] = value
    return dump_manifest(doc)


def kept_restart(pod: DesiredPod, on_node: Optional[str]) -> DesiredPod:
    """``pod`` as the inventory renders it, with the restart annotation of the node's file
    ``on_node`` when that has one (the module's rule); else ``pod`` as it is."""
    value = restarted_at(on_node)
    if value is None:
        return pod
    return replace(pod, content=restarted(pod.content, value, pod.template))
