"""Manifests to pods: a file or a URL's body decoded, checked and defaulted into StaticPods,
and the rules for two pods of one name."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Tuple

import yaml

from .defaults import check_quantities, defaulted_pod, hashed_form
from .quantity import QuantityError
from .validation import ManifestError, api_object_reference, validate_pod

MAX_MANIFEST_BYTES = 10 << 20  # the kubelet's maxConfigLength
DEFAULT_GRACE = 30  # terminationGracePeriodSeconds default


@dataclass
class StaticPod:
    """A pod from a static source, defaulted as the kubelet's applyDefaults does."""

    uid: str
    name: str  # <metadata.name>-<node name>
    namespace: str
    manifest: Dict[str, Any]  # decoded and defaulted (defaults.py), metadata.name untouched
    source: str  # "file" or "http"
    origin: str  # the file path or the URL

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def spec(self) -> Dict[str, Any]:
        return self.manifest["spec"]

    @property
    def restart_policy(self) -> str:
        return self.spec.get("restartPolicy") or "Always"

    @property
    def grace_period(self) -> int:
        grace = self.spec.get("terminationGracePeriodSeconds")
        return DEFAULT_GRACE if grace is None else grace

    def annotations(self, seen: str) -> Dict[str, str]:
        result = dict(self.manifest["metadata"].get("annotations") or {})
        result["kubernetes.io/config.hash"] = self.uid
        result["kubernetes.io/config.source"] = self.source
        result["kubernetes.io/config.seen"] = seen
        return result


def compute_uid(pod: Dict[str, Any], node: str, origin: str, source: str) -> str:
    """The UID applyDefaults (pkg/kubelet/config/common.go) gives a pod with no
    metadata.uid: a hash of the decoded, DEFAULTED pod (so spelling a default out changes
    nothing), then of its origin (written after, as DeepHashObject resets the hasher): the
    same pod at the same path keeps its UID; a renamed file gets a new one. ``pod`` is the
    decoded manifest, defaulted here if it is not yet. (The kubelet hashes Go's structs with
    spew; this hashes their JSON, which keeps equal pods equal and different pods apart.)"""
    canonical = json.dumps(
        hashed_form(defaulted_pod(pod)), sort_keys=True, separators=(",", ":"), default=str
    )
    hasher = hashlib.md5(canonical.encode(), usedforsecurity=False)
    if source == "file":
        hasher.update(f"host:{node}file:{origin}".encode())
    else:
        hasher.update(f"url:{origin}".encode())  # the kubelet leaves the node out for URLs
    return hasher.hexdigest()


def pod_from_object(obj: Any, origin: str, node: str, source: str) -> StaticPod:
    """Check, default and validate one decoded Pod, in tryDecodeSinglePod's order."""
    if not isinstance(obj, dict) or obj.get("apiVersion") != "v1" or obj.get("kind") != "Pod":
        if obj is None:  # an empty file, or one just truncated by an in-place write
            problem = "Object 'Kind' is missing in 'null'"
        elif isinstance(obj, dict):
            problem = (
                f"not a v1 Pod: apiVersion {obj.get('apiVersion')!r}, kind {obj.get('kind')!r}"
            )
        else:
            problem = f"not a v1 Pod: {type(obj).__name__}"
        raise ManifestError(f"couldn't parse as pod({problem}), please check config file")
    try:  # the decoder fails on a quantity it cannot parse, before any check of the pod
        check_quantities(obj)
    except QuantityError as exc:
        raise ManifestError(f"couldn't parse as pod({exc}), please check config file") from None
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not meta.get("name"):
        raise ManifestError("invalid pod: name is needed for the pod")
    name = f"{meta['name']}-{node}"
    errs = validate_pod(obj, name)
    if errs:
        raise ManifestError(f"invalid pod: [{', '.join(errs)}]")
    resource = api_object_reference(obj["spec"])
    if resource:
        raise ManifestError(f"static pods may not reference {resource}")
    try:
        # Everything after works on the defaulted pod, as the kubelet's does (a port without
        # protocol is TCP, a probe's 0 its default); a uid written in the manifest is kept.
        pod = defaulted_pod(obj)
        uid = str(meta.get("uid") or compute_uid(pod, node, origin, source))
    except TypeError as exc:  # YAML keys of mixed types, which no Pod decoder accepts either
        raise ManifestError(f"couldn't parse as pod({exc})") from None
    return StaticPod(uid, name, meta.get("namespace") or "default", pod, source, origin)


def read_manifest_file(path: str, node: str) -> StaticPod:
    """One manifest file as a pod. ManifestError if it is not one; FileNotFoundError if it
    went away since the directory was listed."""
    with open(path, "rb") as fh:
        data = fh.read(MAX_MANIFEST_BYTES + 1)
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(f'unable to read config path "{path}": file is larger than 10 MiB')
    try:
        obj = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        problem = " ".join(str(exc).split())
        raise ManifestError(f"couldn't parse as pod({problem}), please check config file") from None
    return pod_from_object(obj, path, node, "file")


def pods_from_url_body(body: bytes, url: str, node: str) -> List[StaticPod]:
    """A Pod or a v1 PodList. One bad pod rejects the whole body, as in the kubelet."""
    try:
        obj = yaml.safe_load(body)
    except yaml.YAMLError as exc:
        raise ManifestError(f"couldn't parse as single or multiple pods ({exc})") from None
    if isinstance(obj, dict) and obj.get("kind") == "PodList" and obj.get("apiVersion") == "v1":
        items = [
            {"apiVersion": "v1", "kind": "Pod", **i} if isinstance(i, dict) else i
            for i in obj.get("items") or []
        ]
        return [pod_from_object(item, url, node, "http") for item in items]
    return [pod_from_object(obj, url, node, "http")]


def drop_duplicates(pods: List[StaticPod]) -> Tuple[List[StaticPod], List[Tuple[int, StaticPod]]]:
    """(kept, [(index, ignored)]): the first pod of each namespace/name wins, in the source's
    order (sorted file names), as in the kubelet's filterInvalidPods. So a stale
    `static-web.bak.yaml` silently beats `static-web.yaml`. (The real file source also keys
    its cache by namespace/name, where the last file listed or written wins: which file wins
    there depends on timing. Either way a stray copy can silently replace the pod.)"""
    seen: set = set()
    kept, ignored = [], []
    for index, pod in enumerate(pods):
        (ignored.append((index, pod)) if pod.full_name in seen else kept.append(pod))
        seen.add(pod.full_name)
    return kept, ignored


def keep_last_definitions(pods: List[StaticPod]) -> List[StaticPod]:
    """The file source's choice among files that define the same pod: its store is keyed by
    namespace/name and a re-list replaces it with every file's pod in listing order
    (pkg/kubelet/config/file.go, listConfig -> replaceStore; cache.NewUndeltaStore with
    MetaNamespaceKeyFunc), so the LAST file (sorted names) wins, silently: the merge in
    config.go (filterInvalidPods) never sees the duplicate. A stale `static-web.bak.yaml`
    loses to `static-web.yaml`; a stray `static-web.yaml~` beats it."""
    chosen: Dict[str, StaticPod] = {}
    for pod in pods:
        chosen.pop(pod.full_name, None)
        chosen[pod.full_name] = pod
    return list(chosen.values())


def report_duplicates(
    ignored: List[Tuple[int, StaticPod]], source: str, say: Callable[..., None]
) -> None:
    message = "Pod failed validation due to duplicate pod name, ignoring"
    for index, pod in ignored:
        kv = {"index": index, "pod": pod.full_name, "source": source, "path": pod.origin}
        say(("duplicate", pod.origin), "I", "config.go", message, **kv)
