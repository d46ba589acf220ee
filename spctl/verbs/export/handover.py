"""The handover from a static pod to its DaemonSets, node by node, as commands to run.

Nothing here runs anything: spctl has no API server to talk to, so the plan is printed and the
operator runs it. Two orders, chosen by what the pod holds on the host:

- **apply, then remove** (the usual case). The DaemonSets are applied once; their pods start
  beside the static pods. Then, node by node: wait until the DaemonSet's pod is Ready there, and
  only then ``spctl remove`` the static pod. The pod never stops on any node; for a moment two
  copies run side by side on each node.
- **remove, then apply** (hostNetwork or hostPort). Two copies cannot run side by side: the
  second cannot bind the port (and with a declared hostPort the scheduler keeps it Pending while
  the static pod's mirror pod holds the port, starting it at an unknown moment later). Applying
  the DaemonSets must therefore start nothing, so their node affinity also requires a handover
  label (``handover.spctl.io/<pod>=daemonset``) that no node has yet. Then, node by node: remove
  the static pod, label the node, wait until the DaemonSet's pod is Ready. The pod is down on that
  node between the two, one node at a time. A ``maxSurge`` of 0 alone would not do: surge and
  unavailability only govern updates of pods the DaemonSet owns, never the static pod; it is set
  (with ``maxUnavailable: 1``) so that later updates of the DaemonSet replace stop-then-start too.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from spctl.verbs.export.daemonsets import (
    HANDOVER_LABEL_VALUE,
    DaemonSetExport,
    Export,
    kubelet_node_name,
)

APPLY_THEN_REMOVE = "apply-then-remove"
REMOVE_THEN_APPLY = "remove-then-apply"
WAIT_TIMEOUT = "300s"


@dataclass(frozen=True)
class Step:
    title: str
    commands: tuple[str, ...]
    node: str | None = None


@dataclass(frozen=True)
class Handover:
    pod: str
    order: str
    why: str
    file: str
    steps: tuple[Step, ...]
    after: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "pod": self.pod,
            "order": self.order,
            "why": self.why,
            "file": self.file,
            "steps": [
                {"title": s.title, "node": s.node, "commands": list(s.commands)} for s in self.steps
            ],
            "after": self.after or None,
        }

    def text(self) -> str:
        lines = [
            f"# Handover of static pod {self.pod} to a DaemonSet, node by node ({self.order}).",
            "# Nothing has been run: run these commands in this order, each after the one before",
            "# succeeded.",
            f"# {self.why}",
            "# `kubectl wait` saying `no matching resources found` means the DaemonSet's pod is",
            "# not created yet: run it again.",
        ]
        for number, step in enumerate(self.steps, 1):
            lines += ["", f"# {number}. {step.title}", *step.commands]
        if self.after:
            lines += ["", f"# {self.after}"]
        return "\n".join(lines) + "\n"


def plan_handover(export: Export, spctl: str = "spctl") -> Handover:
    """The commands that hand ``export.pod`` over from its static pods to ``export``'s
    DaemonSets, in the order the pod's host ports allow. ``spctl`` is how to call spctl
    (with its -i, when the inventory is not found by default)."""
    q = shlex.quote
    pod = export.pod
    file = f"{pod}-daemonset.yaml"
    every = [n for ds in export.daemonsets for n in ds.nodes]
    selection = " ".join(f"--node {q(n)}" for n in every)
    options = "".join(
        f" {flag} {q(value)}"
        for flag, value in (
            ("--namespace", export.namespace_option),
            ("--priority-class", export.priority_class),
        )
        if value
    )
    names = ", ".join(f"{ds.name} ({ds.namespace})" for ds in export.daemonsets)
    steps = [
        Step(
            "Check that every node runs what the inventory renders (exit 0: no change), so the "
            "DaemonSet runs the very same pod",
            (f"{spctl} diff {q(pod)} {selection}",),
        )
    ]
    gate = export.handover_label
    save = f"{spctl} export daemonset {q(pod)} {selection}{options} > {q(file)}"
    if gate is None:
        steps.append(
            Step(
                f"Save and apply {names}: pods start on every node beside the static pods",
                (save, f"kubectl apply -f {q(file)}"),
            )
        )
        for ds in export.daemonsets:
            for node in ds.nodes:
                steps.append(
                    Step(
                        f"{node}: wait until the DaemonSet's pod is Ready there, then remove the "
                        "static pod",
                        (*_wait(ds, node), f"{spctl} remove {q(pod)} --node {q(node)}"),
                        node,
                    )
                )
        return Handover(
            pod,
            APPLY_THEN_REMOVE,
            "Both pods run side by side on a node until its static pod is removed: the pod never "
            "stops (check that two copies may share its hostPath files for that moment).",
            file,
            tuple(steps),
        )
    steps.append(
        Step(
            f"Save and apply {names}: nothing starts yet, the DaemonSet selects only nodes "
            f"labelled {gate}={HANDOVER_LABEL_VALUE}",
            (save, f"kubectl apply -f {q(file)}"),
        )
    )
    for ds in export.daemonsets:
        for node in ds.nodes:
            label = f"{gate}={HANDOVER_LABEL_VALUE}"
            steps.append(
                Step(
                    f"{node}: remove the static pod, then let the DaemonSet in (the pod is down "
                    "on this node until its new pod is Ready)",
                    (
                        f"{spctl} remove {q(pod)} --node {q(node)}",
                        f"kubectl label node {q(kubelet_node_name(node))} {q(label)}",
                        *_wait(ds, node),
                    ),
                    node,
                )
            )
    return Handover(
        pod,
        REMOVE_THEN_APPLY,
        f"The pod uses {export.host_ports}: two copies cannot run on one node at once (the "
        "second cannot bind the port), so each node is handed over remove-then-apply, one at a "
        "time; the DaemonSet's maxSurge is 0 so its later updates never overlap either.",
        file,
        tuple(steps),
        f"The label {gate} stays on the nodes: it is part of the DaemonSet's node affinity, and "
        "removing it from a node stops the DaemonSet's pod there.",
    )


def _wait(ds: DaemonSetExport, node: str) -> tuple[str, str]:
    q = shlex.quote
    selector = ",".join(f"{k}={v}" for k, v in ds.selector.items())
    which = f"-l {q(selector)} --field-selector spec.nodeName={q(kubelet_node_name(node))}"
    return (
        f"kubectl -n {q(ds.namespace)} wait pod {which} --for=condition=Ready "
        f"--timeout={WAIT_TIMEOUT}",
        f"kubectl -n {q(ds.namespace)} get pods {which} -o wide",
    )
