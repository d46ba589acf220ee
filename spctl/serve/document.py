"""The exact bytes a URL-mode node's kubelet is served: a PodList of its rendered pods."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from spctl.desired.fleet import Fleet
from spctl.desired.inventory import Node
from spctl.desired.render import DesiredPod, render_all
from spctl.desired.yamlio import parse_manifest
from spctl.errors import SpctlError
from spctl.manifest_url import MAX_DOCUMENT_BYTES


@dataclass(frozen=True)
class NodeDocument:
    """What a node's URL answers: the exact bytes, and the pods they hold."""

    node: str
    source: str
    pods: tuple[str, ...]
    body: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()

    @property
    def etag(self) -> str:
        return f'"{self.sha256}"'


def encode_pods(docs: list[dict[str, Any]]) -> bytes:
    """A PodList holding ``docs`` in order, as the bytes spctl serves (JSON, one fixed layout)."""
    pod_list = {"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": docs}
    text = json.dumps(pod_list, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    return text.encode()


def node_document(node: str, source: str, served: list[DesiredPod]) -> NodeDocument:
    """The document for a node whose pods come from ``source`` (``file`` or ``url``): a PodList
    of ``served``. The caller serves a node in file mode no pods (an empty PodList): a kubelet
    still pointed at the URL then drops the pods it had from it (an error would keep them)."""
    # The manifest text is what was validated; reading it back gives that same data.
    docs = [parse_manifest(p.content, source=f"node {node}, pod {p.name}") for p in served]
    body = encode_pods(docs)
    if len(body) > MAX_DOCUMENT_BYTES:
        raise SpctlError(
            f"node {node}: its pods take {len(body)} bytes as a PodList; the kubelet reads at "
            f"most {MAX_DOCUMENT_BYTES} from a URL; split them over fewer pods per node"
        )
    return NodeDocument(node=node, source=source, pods=tuple(p.name for p in served), body=body)


def document_for(node: Node, desired: list[DesiredPod]) -> NodeDocument:
    """What ``spctl serve`` answers ``node``: the PodList of its rendering when it is in URL
    mode, an empty one when it is not (its kubelet, if still pointed at the URL, then drops
    the pods it had from it)."""
    return node_document(node.name, node.source, desired if node.manifest_url else [])


def render_documents(nodes: Iterable[Node], fleet: Fleet) -> dict[str, NodeDocument]:
    """Every node's document, rendered and validated as ``deploy`` renders (each template
    seeing ``fleet``, the whole inventory's); file-mode nodes (not rendered at all) get an
    empty PodList. Raises ValidationError with every problem."""
    nodes = list(nodes)
    rendered = render_all([n for n in nodes if n.manifest_url], fleet)
    return {n.name: document_for(n, rendered.get(n.name, [])) for n in nodes}
