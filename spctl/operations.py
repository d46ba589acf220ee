"""One node's work for each verb: connect once, read facts, plan, apply, report.

Each function here handles exactly one node over one SSH connection and returns a value
(or raises SpctlError, which the fleet turns into that node's failed result). The deploy
path costs two agent calls on one connection: facts, then apply (skipped when the plan
changes nothing). The work that only reads (status, diff, import's read) goes through
:func:`read_node`, which tries once more on a new connection when the first one drops.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Optional, TypeVar

from spctl_agent.protocol import STALE_PLAN

from spctl import profiles
from spctl import progress as steps
from spctl.errors import SpctlError, TransportError
from spctl.facts import NodeFacts, RuntimePod
from spctl.inventory import Node
from spctl.plan import (
    Plan,
    PodStep,
    choose_dir,
    plan_deploy,
    plan_remove,
    plan_rollback,
    stray_files,
)
from spctl.profiles import detect
from spctl.profiles.base import same_dir
from spctl.remote import Agent, NodeError, Sudo, holder_name
from spctl.render import FILE_SUFFIX, DesiredPod
from spctl.ssh import Connection


@dataclass(frozen=True)
class Settings:
    """Options that apply to every node of one run."""

    host_key_policy: str = "strict"
    connect_timeout: Optional[float] = None
    timeout: float = 300.0  # how long to wait for pods to run (kubeadm's default: 5 minutes)
    stable_for: float = 5.0  # how long a new pod must run without a restart
    wait_lock: float = 0.0
    sudo_password: Optional[str] = field(default=None, repr=False)
    dry_run: bool = False


log = logging.getLogger(__name__)
T = TypeVar("T")

#: How long to wait before the one new connection of :func:`read_node`: a node whose sshd
#: just dropped a session under load (MaxStartups, MaxSessions) gets a moment first.
RETRY_PAUSE = 0.5


@contextmanager
def agent_for(node: Node, settings: Settings, read_only: bool = False) -> Iterator[Agent]:
    """The node's agent on a new connection, closed when the block ends (``read_only``: see
    :class:`~spctl.remote.Agent`)."""
    target = node.target(settings.host_key_policy, settings.connect_timeout)
    sudo = Sudo(enabled=node.needs_sudo, password=settings.sudo_password)
    with Connection(target) as conn:
        yield Agent(conn, sudo, node.name, read_only=read_only)


def read_node(node: Node, settings: Settings, read: Callable[[Agent], T]) -> T:
    """``read(agent)`` on the node, once more when the SSH connection drops.

    The one place spctl retries: for work that changes nothing on the node (status, diff,
    import's read), whose agent is read-only (it refuses to send ``apply``). Only a
    :class:`~spctl.errors.TransportError` is retried: a connection refused or reset, a
    node that closed it before its banner or during the handshake, a session refused or
    closed before its exit status. Never a host key or authentication refusal, a command
    that exited non-zero, the agent's error, a timeout or Ctrl-C. The dropped connection
    is closed (the ``with`` ends), and after :data:`RETRY_PAUSE` a new one is opened; a
    second drop fails the node with that error. The retry is logged at debug level only.
    Deploy, remove and rollback never come here: an apply cut off may have run.
    """
    try:
        with agent_for(node, settings, read_only=True) as agent:
            return read(agent)
    except TransportError as exc:
        log.debug("%s: %s; trying once more on a new connection", node.name, exc)
    time.sleep(RETRY_PAUSE)
    try:
        with agent_for(node, settings, read_only=True) as agent:
            return read(agent)
    except TransportError as exc:
        raise TransportError(f"{exc} (tried twice, the second time on a new connection)") from None


def read_facts(
    agent: Agent, node: Node, pods: list[str], probes: Optional[dict[str, Any]] = None
) -> NodeFacts:
    """The node's facts; with ``probes`` (``readiness_specs``), the pods' READY comes from
    their readiness probes (one attempt each on the node, as status shows it)."""
    request: dict[str, Any] = {"op": "facts", "pods": pods, **profiles.facts_request()}
    if probes:
        request["probes"] = probes
    if node.manifest_dir:
        request["manifest_dirs"] = [node.manifest_dir, *request["manifest_dirs"]]
    facts = NodeFacts.from_agent(agent.call(request))
    # The probes run once, in the first call; its pods (with READY) are the ones returned.
    probed = facts.pods
    request.pop("probes", None)
    # A data dir, config file or manifest directory other than the defaults is known only
    # from an answer (a config file named on the command line, then the directory that file
    # names): read it with another call, at most two more.
    for _ in range(2):
        extra = profiles.follow_up(facts, node.profile)
        if extra is None:
            break
        for key, values in extra.items():
            request[key] = [*request.get(key, []), *values]
        facts = NodeFacts.from_agent(agent.call(request))
    return replace(facts, pods=probed) if probes else facts


# -- deploy, remove, rollback ---------------------------------------------------------------------


@dataclass
class PodOutcome:
    name: str
    action: str
    phase: Optional[str] = None
    ok: bool = True
    error: Optional[str] = None
    reason: str = ""
    diff: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "action": self.action,
            "phase": self.phase,
            "ok": self.ok,
            "error": self.error,
            "reason": self.reason,
        }


@dataclass
class Outcome:
    """What happened on one node."""

    node: str
    plan: Plan
    ok: bool = True
    changed: bool = False
    kubelet_restarted: bool = False
    error: Optional[str] = None
    pods: list[PodOutcome] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.node,
            "ok": self.ok,
            "changed": self.changed,
            "kubelet_restarted": self.kubelet_restarted,
            "error": self.error,
            "profile": self.plan.profile,
            "manifest_dir": self.plan.manifest_dir,
            "kubelet_change": self.plan.kubelet.reason if self.plan.kubelet else None,
            "warnings": list(self.plan.warnings),
            "pods": [p.as_dict() for p in self.pods],
        }


_ACTION_NAMES = {
    "create": "created",
    "update": "updated",
    "remove": "removed",
    "adopt": "unchanged",
    "unchanged": "unchanged",
    "rollback": "rolled-back",
    "move": "moved",
}


def _phase(facts: NodeFacts, plan: Plan, name: str) -> str:
    pod = facts.pod(f"{name}-{plan.node_name}")
    return pod.phase if pod else "Absent"


def execute(
    agent: Agent, facts: NodeFacts, plan: Plan, settings: Settings, wait_running: list[str]
) -> Outcome:
    """Apply ``plan`` through the agent (or describe it, with dry_run)."""
    outcome = Outcome(plan.node, plan, changed=plan.changed)
    steps = [s for s in plan.pods if s.action != "unchanged"]
    if settings.dry_run or not (steps or wait_running or plan.kubelet):
        for step in plan.pods:
            action = step.action if settings.dry_run else _ACTION_NAMES[step.action]
            outcome.pods.append(
                PodOutcome(
                    step.name,
                    action,
                    _phase(facts, plan, step.name),
                    reason=step.reason,
                    diff=step.diff,
                )
            )
        return outcome
    request = {
        "op": "apply",
        "holder": holder_name(),
        "wait_lock": settings.wait_lock,
        "node_name": plan.node_name,
        "manifest_dir": plan.manifest_dir,
        "timeout": settings.timeout,
        "stable_for": settings.stable_for,
        "changes": [_change(s) for s in steps],
        # A run waits only for content it planned from: each file must still hold it.
        "wait_running": [_wait(plan, name) for name in wait_running],
        # Facts read while another run held the node may show what it then undid.
        "planned_while_busy": facts.busy,
        # A change of source (directory <-> URL): done with the kubelet stopped.
        "switch": plan.switch,
    }
    if plan.kubelet is not None:
        request["kubelet"] = {
            "unit": plan.kubelet.unit,
            "daemon_reload": plan.kubelet.daemon_reload,
            "healthz_url": plan.healthz_url,
            "timeout": min(settings.timeout, 120.0),
            "flag": list(plan.kubelet.flag) if plan.kubelet.flag else None,
            "dir_before": _running_dir(facts, plan),
            "expect_dir": plan.manifest_dir,
            "files": [
                {
                    "path": f.path,
                    "content": f.new,
                    "expected_sha256": _sha(f.old) if f.old is not None else None,
                    "mode": f.mode,
                }
                for f in plan.kubelet.files
            ],
        }
    # The agent's worst case: the lock, a kubelet change that fails and is undone (two
    # restarts and two healthz waits), then pods that fail and are rolled back.
    kubelet_worst = 4 * 120 + 2 * min(settings.timeout, 120.0) if plan.kubelet else 0
    budget = settings.wait_lock + kubelet_worst + 2 * settings.timeout + 120
    answer = agent.call(request, timeout=budget)
    if answer.get("recovered"):  # another run was killed between our facts and this call
        late = replace(facts, recovered=answer["recovered"])
        outcome.plan = _noted(plan, late)
    outcome.kubelet_restarted = bool(answer.get("kubelet_restarted"))
    by_name = {step.name: step for step in plan.pods}
    reported = set()
    for pod in answer.get("pods", []):
        known = by_name.get(pod["name"])
        action = _ACTION_NAMES.get(pod["action"], pod["action"])
        if not pod.get("ok"):
            action = "failed" if pod["action"] != "unchanged" else "unchanged"
        outcome.pods.append(
            PodOutcome(
                pod["name"],
                action,
                pod.get("phase"),
                bool(pod.get("ok")),
                pod.get("error"),
                known.reason if known else "",
                known.diff if known else "",
            )
        )
        reported.add(pod["name"])
    for step in plan.pods:
        if step.name not in reported:
            outcome.pods.append(
                PodOutcome(
                    step.name,
                    _ACTION_NAMES[step.action],
                    _phase(facts, plan, step.name),
                    reason=step.reason,
                )
            )
    # Problems the agent met while undoing a failed change (a file it could not restore).
    problems = [f"{p.name}: {p.error}" for p in outcome.pods if not p.ok] + answer.get("errors", [])
    if problems:
        outcome.ok = False
        outcome.error = "; ".join(problems)
    return outcome


def _change(step: PodStep) -> dict[str, Any]:
    change: dict[str, Any] = {
        "pod": step.name,
        "file": step.file,
        "action": step.action,
        "content": step.content,
        "expected_sha256": step.expected_sha256,
    }
    if step.from_path:
        change.update({"from_path": step.from_path, "from_sha256": step.from_sha256})
    probes = _probes(step)
    if probes:
        change["probes"] = probes
    return change


def readiness_specs(desired: list[DesiredPod], names: list[str]) -> dict[str, Any]:
    """{pod name: probe spec} of the pods in ``names`` whose rendering has readiness probes."""
    specs = {}
    for pod in desired:
        if pod.name not in names or "readinessProbe" not in pod.content:
            continue
        spec = _probe_spec(pod.content, pod.file)
        if spec and any("readinessProbe" in c for c in spec["containers"]):
            specs[pod.name] = spec
    return specs


def _probe_spec(content: str, file: str) -> Optional[dict[str, Any]]:
    """What the agent needs of a pod's startup and readiness probes (the agent reads no
    YAML); None without probes, or when the file does not parse (the kubelet will say why)."""
    from spctl_agent.protocol.probe_spec import probe_spec_of

    from spctl.manifest import ManifestError, parse_manifest

    try:
        spec: Optional[dict[str, Any]] = probe_spec_of(parse_manifest(content, source=file))
    except ManifestError:
        return None
    return spec


def _probes(step: PodStep) -> Optional[dict[str, Any]]:
    """The new pod's probes, for the agent to evaluate while it waits."""
    if step.action in ("remove", "rollback") or not step.content:
        return None
    return _probe_spec(step.content, step.file)


def _wait(plan: Plan, name: str) -> dict[str, Any]:
    if plan.source == "url":  # served: no file to check, the pod comes from the URL
        return {"pod": name, "sources": ["http"]}
    step = next((s for s in plan.pods if s.name == name), None)
    wait: dict[str, Any] = {"pod": name}
    if step is not None:
        wait.update({"file": step.file, "expected_sha256": step.expected_sha256})
    return wait


def _running_dir(facts: NodeFacts, plan: Plan) -> Optional[str]:
    return facts.running_dir(plan.unit)


def _sha(text: str) -> str:
    # The agent carries undecodable bytes of a configuration file as lone surrogates: hash
    # the file's bytes, not a re-encoding of replacement characters.
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def recovered_note(facts: NodeFacts) -> Optional[str]:
    """What the agent did about an unfinished transaction it found, for the operator."""
    rec = facts.recovered
    if not rec:
        return None
    what = (
        "an interrupted spctl run "
        f"({rec.get('holder')}, started {rec.get('started')}, phase {rec.get('phase')}"
        f"{', pods ' + ', '.join(rec.get('pods') or []) if rec.get('pods') else ''})"
    )
    if rec.get("action") == "completed":
        return f"{what} had succeeded; its change was completed"
    text = f"{what} was rolled back: its files and the kubelet's configuration are as before"
    if rec.get("problems"):
        text += "; BUT: " + "; ".join(rec["problems"])
    return text


def _noted(plan: Plan, facts: NodeFacts) -> Plan:
    note = recovered_note(facts)
    return replace(plan, warnings=(note, *plan.warnings)) if note else plan


def _replanned(run: Callable[[], Outcome]) -> Outcome:
    """Run once more, from fresh facts, when the agent refused a plan made while another
    run was changing the node (with --wait-lock: that run has ended by now, so the second
    plan starts from what it left)."""
    try:
        return run()
    except NodeError as exc:
        if STALE_PLAN not in str(exc):
            raise
    return run()


def deploy_node(
    node: Node,
    desired: list[DesiredPod],
    settings: Settings,
    on_step: steps.StepCallback = steps.silent,
) -> Outcome:
    if not settings.wait_lock:  # without --wait-lock a busy node fails the run
        return _deploy_node(node, desired, settings, on_step)
    return _replanned(lambda: _deploy_node(node, desired, settings, on_step))


def _deploy_node(
    node: Node, desired: list[DesiredPod], settings: Settings, on_step: steps.StepCallback
) -> Outcome:
    on_step(node.name, steps.CONNECTING)
    with agent_for(node, settings) as agent:
        on_step(node.name, steps.READING_FACTS)
        facts = read_facts(agent, node, [p.name for p in desired])
        on_step(node.name, steps.PLANNING)
        plan = _noted(plan_deploy(node, desired, facts), facts)
        # Pods whose file is unchanged still need a wait when the kubelet is restarted
        # or when they are not running now (a previous deploy that did not converge).
        wait_running = [
            s.name
            for s in plan.pods
            if s.action == "unchanged"
            and (plan.kubelet is not None or _phase(facts, plan, s.name) != "Running")
        ]
        _applying(node, plan, settings, on_step, wait_running)
        return execute(agent, facts, plan, settings, wait_running)


def remove_node(
    node: Node, names: list[str], settings: Settings, on_step: steps.StepCallback = steps.silent
) -> Outcome:
    on_step(node.name, steps.CONNECTING)
    with agent_for(node, settings) as agent:
        on_step(node.name, steps.READING_FACTS)
        facts = read_facts(agent, node, names)
        plan = _noted(plan_remove(node, names, facts), facts)
        _applying(node, plan, settings, on_step)
        return execute(agent, facts, plan, settings, [])


def rollback_node(
    node: Node, names: list[str], settings: Settings, on_step: steps.StepCallback = steps.silent
) -> Outcome:
    on_step(node.name, steps.CONNECTING)
    with agent_for(node, settings) as agent:
        on_step(node.name, steps.READING_FACTS)
        facts = read_facts(agent, node, names)
        plan = _noted(plan_rollback(node, names, facts), facts)
        _applying(node, plan, settings, on_step)
        return execute(agent, facts, plan, settings, [])


def _applying(
    node: Node,
    plan: Plan,
    settings: Settings,
    on_step: steps.StepCallback,
    wait_running: Optional[list[str]] = None,
) -> None:
    step = None if settings.dry_run else steps.applying(plan, wait_running or ())
    if step is not None:
        on_step(node.name, step)


# -- status ---------------------------------------------------------------------------------------


@dataclass
class PodStatus:
    name: str
    pod: str
    file: Optional[str]
    manifest: str  # in-sync | drifted | missing | unmanaged
    phase: str  # Running | Pending | Failed | Succeeded | Absent
    ready: bool
    restarts: int
    age: Optional[float]
    containers: list[dict[str, Any]]
    not_ready: str = ""  # why its readiness probe fails, when it runs but is not ready

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pod": self.pod,
            "file": self.file,
            "manifest": self.manifest,
            "phase": self.phase,
            "ready": self.ready,
            "restarts": self.restarts,
            "age_seconds": None if self.age is None else int(self.age),
            "containers": self.containers,
            "not_ready": self.not_ready or None,
        }


@dataclass
class NodeStatus:
    name: str
    reachable: bool = True
    error: Optional[str] = None
    profile: Optional[str] = None
    kubelet_active: bool = False
    kubelet_healthy: bool = False
    manifest_dir: Optional[str] = None
    runtime: Optional[str] = None  # "cri" or "docker": where the agent read the pods
    runtime_endpoint: Optional[str] = None
    pods: list[PodStatus] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: URL mode: the URL, what the server serves, the last fetch (``urldeploy.URLStatus``).
    url: Optional[dict[str, Any]] = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "reachable": self.reachable,
            "error": self.error,
            "profile": self.profile,
            "kubelet": {
                "active": self.kubelet_active,
                "healthy": self.kubelet_healthy,
                "manifest_dir": self.manifest_dir,
            },
            "runtime": {"kind": self.runtime, "endpoint": self.runtime_endpoint},
            "warnings": self.warnings,
            "url": self.url,
            "pods": [p.as_dict() for p in self.pods],
        }


def status_node(
    node: Node, desired: Optional[list[DesiredPod]], names: list[str], settings: Settings
) -> NodeStatus:
    probes = readiness_specs(desired or [], names)
    facts = read_node(node, settings, lambda agent: read_facts(agent, node, names, probes))
    return node_status(node, facts, desired, names)


def node_status(
    node: Node,
    facts: NodeFacts,
    desired: Optional[list[DesiredPod]],
    names: list[str],
) -> NodeStatus:
    """Pure: the status of one node from its facts."""
    status = NodeStatus(node.name)
    status.runtime = facts.runtime
    status.runtime_endpoint = (facts.raw.get("runtime") or {}).get("endpoint")
    note = recovered_note(facts)
    if note:
        status.warnings.append(note)
    if facts.journal:
        status.warnings.append(
            f"a spctl run ({facts.journal.get('holder')}) is changing this node now"
        )
    try:
        profile = detect(facts, node.profile)
    except SpctlError as exc:
        status.error = str(exc)
        return status
    status.profile = profile.name
    unit = facts.unit(profile.unit(facts))
    status.kubelet_active = bool(unit and unit.active)
    status.kubelet_healthy = facts.healthz
    # The running kubelet's directory, not its files': a file edited without a restart (a
    # hand edit, an agent killed in between) is a pending change that deploy settles.
    configured = profile.manifest_dir(facts)
    running = facts.running_dir(profile.unit(facts))
    status.manifest_dir = running or configured
    if running and configured and not same_dir(running, configured):
        status.warnings.append(
            f"the running kubelet watches {running} but its configuration names "
            f"{configured} (changed without a restart): a pending change; `spctl diff` "
            "shows how deploy completes or reverts it"
        )
    directory = node.manifest_dir or running or choose_dir(node, profile, facts)
    node_name = profile.node_name(facts)
    if facts.runtime_error:
        status.warnings.append(f"container runtime: {facts.runtime_error}")
    entries = {e.name: e for e in facts.dirs.get(directory) or ()}
    want = {p.name: p for p in desired or []}
    seen_pods: set[str] = set()
    for name in names:
        file = name + FILE_SUFFIX
        path = f"{directory}/{file}"
        entry = entries.get(file)
        if entry is None:
            manifest = "missing"
        elif path not in facts.owned:
            manifest = "unmanaged"  # a file spctl did not write; deploy will not touch it
        elif name in want:
            manifest = "in-sync" if entry.sha256 == want[name].sha256 else "drifted"
        else:
            owned = facts.owned.get(path) or {}
            manifest = "in-sync" if owned.get("sha256") == entry.sha256 else "drifted"
        kubelet_name = f"{name}-{node_name}"
        seen_pods.add(kubelet_name)
        status.pods.append(
            _row(name, kubelet_name, path if entry else None, manifest, facts.pod(kubelet_name))
        )
    listed = {name + FILE_SUFFIX for name in names}
    for entry in facts.dirs.get(directory) or ():
        if not entry.kubelet_reads or entry.name in listed:
            continue
        path = f"{directory}/{entry.name}"
        if path in facts.owned:
            status.warnings.append(
                f"{path} was deployed by spctl but the inventory no longer assigns it to this "
                f"node; `spctl remove {facts.owned[path].get('pod')} --node {node.name}` removes it"
            )
        pod_name = entry.pod_name or entry.name
        kubelet_name = f"{pod_name}-{node_name}"
        seen_pods.add(kubelet_name)
        status.pods.append(_row(pod_name, kubelet_name, path, "unmanaged", facts.pod(kubelet_name)))
    # Static pods of other sources (another directory, a manifest URL) the runtime shows.
    for pod in facts.pods:
        source = pod.annotations.get("kubernetes.io/config.source")
        if pod.pod in seen_pods or source not in ("file", "http"):
            continue
        base = pod.pod[: -len(node_name) - 1] if pod.pod.endswith("-" + node_name) else pod.pod
        status.pods.append(_row(base, pod.pod, None, "unmanaged", pod))
    status.warnings += stray_files(facts, directory)
    return status


def _row(
    name: str, kubelet_name: str, file: Optional[str], manifest: str, pod: Optional[RuntimePod]
) -> PodStatus:
    if pod is None:
        return PodStatus(name, kubelet_name, file, manifest, "Absent", False, 0, None, [])
    age = time.time() - pod.created if pod.created else None
    containers = [
        {"name": c.name, "state": c.state, "restarts": c.restarts} for c in pod.containers
    ]
    return PodStatus(
        name,
        kubelet_name,
        file,
        manifest,
        pod.phase,
        pod.ready,
        pod.restarts,
        age,
        containers,
        pod.not_ready,
    )
