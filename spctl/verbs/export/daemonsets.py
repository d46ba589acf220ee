"""A static pod as DaemonSets: the way out for a pod that has outgrown static pods.

:func:`export_daemonsets` renders the pod for every selected node that has it, through the same
path ``deploy`` uses (:func:`spctl.desired.render.render_all`), groups the nodes by identical rendering
and builds one DaemonSet per distinct rendering. Each DaemonSet's pod template is the pod as the
nodes run it, plus what a DaemonSet needs to keep it running exactly there:

- **Placement.** Node affinity ``kubernetes.io/hostname In [...]``: the nodes that run the
  static pod today, named as the kubelet registers them (the inventory name, lower-cased: the
  suffix of the static pod's name). A node selector could not say "these nodes"; affinity can.
- **Taints.** The kubelet runs a static pod whatever the node's taints: its admission check skips
  taints and tolerations for static pods (``pkg/kubelet/lifecycle/predicate.go``, generalFilter),
  and for file-sourced pods it adds a NoExecute toleration itself (``pkg/kubelet/config/common.go``).
  A DaemonSet's pod is scheduled and admitted like any other pod, so a tainted node (a control
  plane's ``node-role.kubernetes.io/control-plane:NoSchedule``, a cordoned node) would lose it. The
  DaemonSet controller adds only some tolerations by itself (``pkg/controller/daemon/util/
  daemonset_util.go``, AddOrUpdateDaemonPodTolerations): ``node.kubernetes.io/not-ready`` and
  ``unreachable`` (NoExecute), ``disk-pressure``, ``memory-pressure``, ``pid-pressure``,
  ``unschedulable`` (NoSchedule), and ``network-unavailable`` (NoSchedule) for host-network pods;
  never a custom taint. So the template tolerates everything (one toleration, ``operator: Exists``
  with no key), which is what the static pod effectively had.
- **Selection.** The selector is ``app.kubernetes.io/name`` (the pod's own, or the pod's name)
  plus ``spctl.io/daemonset: <DaemonSet name>``: two DaemonSets of one pod never select each
  other's pods, and neither selects the static pod's mirror pod (which has the pod's labels but
  not the second one), so ``kubectl wait -l`` in the handover cannot mistake the old pod for the
  new one.

**Differing renderings.** Nodes that render the pod differently get one DaemonSet per rendering
(named ``<pod>-<group>`` when its nodes are exactly one group's, ``<pod>-<hash>`` otherwise), as
long as the difference follows the inventory's groups; a difference set on single nodes is
refused, naming the input and the nodes (the rule is in :mod:`spctl.verbs.export.pernode`).

Fields a static pod may have but a DaemonSet's template may not are handled with a message:
``spec.nodeName`` is dropped (the kubelet overwrites it for static pods; in a template it would
bind every pod to one node), ``restartPolicy`` other than Always and ``activeDeadlineSeconds``
are refused (``pkg/apis/apps/validation/validation.go``, ValidateDaemonSetSpec). Every DaemonSet
is checked against the DaemonSet JSON schema of kubernetes-validate (the same version as the Pod
schema) before it is returned; a failure there is a bug in spctl, raised as :class:`ExportBug`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from spctl.desired.inventory import Inventory, Node
from spctl.desired.render import render_all
from spctl.desired.validation.problem import field_path
from spctl.desired.validation.schema import validator
from spctl.desired.validation.static_pod import validate_pod_name
from spctl.desired.yamlio import parse_manifest
from spctl.errors import SpctlError
from spctl.verbs.export.pernode import per_node_differences

if TYPE_CHECKING:
    pass

HOSTNAME_LABEL = "kubernetes.io/hostname"
NAME_LABEL = "app.kubernetes.io/name"
DAEMONSET_LABEL = "spctl.io/daemonset"
# Host-network pods are handed over node by node behind this node label (see spctl.verbs.export.handover).
HANDOVER_LABEL_PREFIX = "handover.spctl.io/"
HANDOVER_LABEL_VALUE = "daemonset"
# Only kube-system may use these by default in clusters that limit critical priority classes
# (kube-up since 1.19, GKE); elsewhere a ResourceQuota scoped to the class must allow them.
CRITICAL_PRIORITY_CLASSES = ("system-node-critical", "system-cluster-critical")
CRITICAL_NAMESPACE = "kube-system"
DAEMONSET_SCHEMA = "daemonset-apps-v1.json"

_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


class ExportRefused(SpctlError):
    """The pod cannot be expressed as DaemonSets; ``problems`` says why and what to do."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class ExportBug(SpctlError):
    """A DaemonSet spctl built fails the DaemonSet schema: a bug in spctl, not in the input."""

    exit_code = 1

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "a DaemonSet spctl built fails the DaemonSet schema (a bug in spctl; please "
            "report it with the pod's template):\n" + "\n".join(problems)
        )


@dataclass(frozen=True)
class DaemonSetExport:
    """One DaemonSet and the nodes it takes over (inventory names, in inventory order)."""

    name: str
    namespace: str
    nodes: tuple[str, ...]
    manifest: dict[str, Any]
    selector: dict[str, str]


@dataclass(frozen=True)
class Export:
    """The DaemonSets for one pod, what was adjusted on the way (``notes``), and whether the
    pod holds host ports (``host_ports``: hostNetwork or hostPort, described for messages)."""

    pod: str
    daemonsets: tuple[DaemonSetExport, ...]
    notes: tuple[str, ...]
    host_ports: Optional[str]
    priority_class: Optional[str] = None
    namespace_option: Optional[str] = None

    @property
    def handover_label(self) -> Optional[str]:
        """The node label that gates the DaemonSets, for pods that hold host ports."""
        return handover_label(self.pod) if self.host_ports else None


def kubelet_node_name(node: str) -> str:
    # The kubelet registers the node under its hostname, lower-cased; spctl assumes the
    # inventory name is that hostname, as the static pod's name suffix does (desired/validation/static_pod.py).
    return node.lower()


def handover_label(pod: str) -> str:
    name = pod if len(pod) <= 63 else f"{pod[:54]}-{_short_hash(pod)}"
    return HANDOVER_LABEL_PREFIX + name


def export_daemonsets(
    inventory: Inventory,
    nodes: Iterable[Node],
    pod: str,
    priority_class: Optional[str] = None,
    namespace: Optional[str] = None,
) -> Export:
    """The DaemonSets that take over ``pod`` on the selected ``nodes`` that have it.

    Raises ExportRefused (with every problem) when it cannot be expressed, ValidationError
    when the pod does not render, ExportBug when a built DaemonSet fails the schema."""
    problem = validate_pod_name(pod)
    if problem:
        raise ExportRefused([f"pod {pod!r}: {problem}"])
    if namespace is not None and not (len(namespace) <= 63 and _DNS_LABEL.fullmatch(namespace)):
        raise ExportRefused(
            [
                f"--namespace {namespace!r} is not a namespace name (a DNS-1123 label, e.g. kube-system)"
            ]
        )
    having = [n for n in nodes if any(r.name == pod for r in n.pods)]
    if not having:
        raise ExportRefused(
            [f"pod {pod!r} is not assigned to any selected node; nothing runs it as a static pod"]
        )
    rendered = render_all(having, inventory.fleet, (pod,))
    classes: dict[str, list[Node]] = {}
    for node in having:
        classes.setdefault(rendered[node.name][0].content, []).append(node)
    if len(classes) > 1:
        refused = per_node_differences(inventory, having, pod, list(classes.values()))
        if refused:
            raise ExportRefused(refused)
    names = _daemonset_names(inventory, pod, classes)
    problems: list[str] = []
    notes: list[str] = []
    built: list[DaemonSetExport] = []
    docs = {content: parse_manifest(content, source=f"pod {pod}") for content in classes}
    # One handover for all of the pod's DaemonSets: gated when any rendering holds host ports.
    host_ports = next((h for h in map(_host_ports, docs.values()) if h), None)
    for content, members in classes.items():
        ds, ds_notes, ds_problems = _build(
            names[content],
            docs[content],
            [n.name for n in members],
            priority_class,
            namespace,
            gate=handover_label(pod) if host_ports else None,
        )
        notes += [n for n in ds_notes if n not in notes]
        problems += [p for p in ds_problems if p not in problems]
        if ds is not None:
            built.append(ds)
    if problems:
        raise ExportRefused(problems)
    bugs = [f"DaemonSet {d.name}: {p}" for d in built for p in daemonset_problems(d.manifest)]
    if bugs:
        raise ExportBug(bugs)
    return Export(pod, tuple(built), tuple(notes), host_ports, priority_class, namespace)


# --- building one DaemonSet --------------------------------------------------------------------


def _build(
    name: str,
    pod: dict[str, Any],
    nodes: list[str],
    priority_class: Optional[str],
    namespace_option: Optional[str],
    gate: Optional[str],
) -> tuple[Optional[DaemonSetExport], list[str], list[str]]:
    """One DaemonSet for the nodes that render ``pod`` alike, its notes and its refusals."""
    notes: list[str] = []
    problems: list[str] = []
    metadata = dict(pod.get("metadata") or {})
    spec = dict(pod.get("spec") or {})
    where = f"pod {metadata.get('name')}"
    # The kubelet puts static pods without a namespace in "default" (pkg/kubelet/config/common.go).
    own_namespace = metadata.pop("namespace", None) or "default"
    namespace = namespace_option or own_namespace
    if namespace != own_namespace:
        notes.append(
            f"the static pod runs in namespace {own_namespace}; the DaemonSet goes to {namespace}"
        )
    for key in ("name", "generateName", "uid", "resourceVersion", "ownerReferences"):
        metadata.pop(key, None)
    policy = spec.get("restartPolicy", "Always")
    if policy != "Always":
        problems.append(
            f"{where}: spec.restartPolicy is {policy}; a DaemonSet's pods must restart Always "
            "(the API server refuses any other policy: a daemon never finishes); a pod meant to "
            "finish is a Job's work: keep it static, or set restartPolicy: Always if it should run "
            "for ever"
        )
    if "activeDeadlineSeconds" in spec:
        problems.append(
            f"{where}: spec.activeDeadlineSeconds is forbidden in a DaemonSet (its pods run for "
            "ever); remove it, or keep the pod static"
        )
    if spec.pop("nodeName", None) is not None:
        notes.append(
            "spec.nodeName is dropped: the kubelet overwrites it for static pods, and in a "
            "DaemonSet's template it would bind every pod to one node"
        )
    if spec.get("tolerations"):
        notes.append(
            "the pod's own tolerations are replaced by one that tolerates every taint (it "
            "includes them): the static pod ignored taints, so the DaemonSet must too"
        )
    spec["tolerations"] = [{"operator": "Exists"}]
    if priority_class:
        if spec.get("priorityClassName") not in (None, priority_class):
            notes.append(
                f"priorityClassName {spec['priorityClassName']} is replaced by {priority_class}"
            )
        spec["priorityClassName"] = priority_class
    chosen_class = spec.get("priorityClassName")
    if chosen_class in CRITICAL_PRIORITY_CLASSES and namespace != CRITICAL_NAMESPACE:
        problems.append(
            f"{where}: priority class {chosen_class} is for {CRITICAL_NAMESPACE} only: clusters "
            "that limit critical priority classes (the default of kube-up and GKE) refuse it in "
            f"namespace {namespace}, and elsewhere it needs a ResourceQuota allowing it there; "
            f"add --namespace {CRITICAL_NAMESPACE}, or choose a priority class of your own"
        )
    spec["affinity"] = _with_node_affinity(spec.get("affinity"), nodes, gate)
    app_name = str(
        (metadata.get("labels") or {}).get(NAME_LABEL) or _label_value(_metadata_name(pod))
    )
    selector = {NAME_LABEL: app_name, DAEMONSET_LABEL: _label_value(name)}
    metadata["labels"] = {**(metadata.get("labels") or {}), **selector}
    ds_spec: dict[str, Any] = {
        "selector": {"matchLabels": dict(selector)},
        "template": {"metadata": metadata, "spec": spec},
    }
    if gate:
        # A surge would start the new pod beside the old one on the same node, and two pods
        # cannot hold one host port; replace stop-then-start, one node at a time.
        ds_spec["updateStrategy"] = {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
        }
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": namespace, "labels": {NAME_LABEL: app_name}},
        "spec": ds_spec,
    }
    if problems:
        return None, notes, problems
    return DaemonSetExport(name, namespace, tuple(nodes), manifest, selector), notes, []


def _metadata_name(pod: dict[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("name"))


def _with_node_affinity(
    affinity: Optional[dict[str, Any]], nodes: list[str], gate: Optional[str]
) -> dict[str, Any]:
    """The pod's affinity with its required node terms narrowed to ``nodes`` (and the
    handover label): node selector terms are ORed, expressions in a term ANDed, so the
    requirement goes into every term the pod already has."""
    required = [
        {"key": HOSTNAME_LABEL, "operator": "In", "values": [kubelet_node_name(n) for n in nodes]}
    ]
    if gate:
        required.append({"key": gate, "operator": "In", "values": [HANDOVER_LABEL_VALUE]})
    affinity = dict(affinity or {})
    node_affinity = dict(affinity.get("nodeAffinity") or {})
    selector = dict(node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    terms = [dict(t) for t in selector.get("nodeSelectorTerms") or []] or [{}]
    for term in terms:
        term["matchExpressions"] = list(term.get("matchExpressions") or []) + required
    selector["nodeSelectorTerms"] = terms
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = selector
    affinity["nodeAffinity"] = node_affinity
    return affinity


def _host_ports(pod: dict[str, Any]) -> Optional[str]:
    """How the pod holds ports on the host ("hostNetwork", "hostPort 6443"), or None."""
    spec = pod.get("spec") or {}
    ports = [
        str(p["hostPort"])
        for key in ("initContainers", "containers")
        for c in spec.get(key) or []
        for p in c.get("ports") or []
        if isinstance(p, dict) and p.get("hostPort")
    ]
    held = (["hostNetwork"] if spec.get("hostNetwork") else []) + (
        [f"hostPort {', '.join(dict.fromkeys(ports))}"] if ports else []
    )
    return " and ".join(held) or None


def _daemonset_names(
    inventory: Inventory, pod: str, classes: dict[str, list[Node]]
) -> dict[str, str]:
    if len(classes) == 1:
        return {content: pod for content in classes}
    having = {n.name for members in classes.values() for n in members}
    names = {}
    for content, members in classes.items():
        chosen = {n.name for n in members}
        name = f"{pod}-{_short_hash(content)}"
        for group, group_members in inventory.groups.items():
            candidate = f"{pod}-{group}"
            if set(group_members) & having == chosen and validate_pod_name(candidate) is None:
                name = candidate
                break
        names[content] = name
    return names


def _label_value(text: str) -> str:
    if len(text) <= 63 and _LABEL_VALUE.fullmatch(text):
        return text
    return f"{text[:54].rstrip('-_.')}-{_short_hash(text)}"


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


# --- the DaemonSet schema ----------------------------------------------------------------------


def daemonset_problems(doc: dict[str, Any]) -> list[str]:
    """Why ``doc`` is not a valid DaemonSet: the schema (strict: unknown fields count), and
    the rules of ValidateDaemonSetSpec the schema cannot express; empty when it is valid."""
    problems = [
        f"{field_path(list(e.absolute_path))}: {e.message[:200]}"
        for e in validator(DAEMONSET_SCHEMA).iter_errors(doc)
    ]
    raw_spec = doc.get("spec")
    spec: dict[str, Any] = raw_spec if isinstance(raw_spec, dict) else {}
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if not selector:
        problems.append("spec.selector: an empty selector is invalid for a DaemonSet")
    if any(labels.get(k) != v for k, v in selector.items()):
        problems.append("spec.template.metadata.labels: the selector does not match them")
    if ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy", "Always") != "Always":
        problems.append("spec.template.spec.restartPolicy: must be Always")
    return problems
