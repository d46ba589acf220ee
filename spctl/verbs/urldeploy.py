"""deploy, diff and status for every node, URL mode included (docs/url-mode.md).

A node in ``source: url`` is deployed only when ``spctl serve`` (at ``url.base``) serves
what the inventory renders now: its ``/digest`` is read from the control host and compared
with the local rendering before anything is changed, and the pods are waited for once the
node's kubelet has fetched that content. The token reaches the node only inside the
agent's request, on its stdin.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Optional

from spctl_agent.protocol import SOURCE_HTTP

from spctl import manifest_url
from spctl.desired.inventory import Node, URLSettings
from spctl.desired.render import DesiredPod
from spctl.errors import SpctlError
from spctl.facts import NodeFacts
from spctl.plan.directory import Plan
from spctl.plan.url import plan_file, plan_url
from spctl.transport.agent import Agent
from spctl.verbs import operations
from spctl.verbs import progress as steps
from spctl.verbs.operations import Outcome, Settings, agent_for, execute, read_facts, read_node


class ServerError(SpctlError):
    """``spctl serve`` is not reachable, or does not serve what the inventory renders."""


def expected_sha256(node: Node, desired: list[DesiredPod]) -> str:
    """The sha256 of the document ``spctl serve`` must answer for ``node``: the same
    rendering as ``serve.render_documents`` (a PodList of the node's pods)."""
    return manifest_url.node_document(node.name, node.source, desired).sha256


def fetch_digest(url: URLSettings, node: Node, timeout: float = 10.0) -> dict[str, Any]:
    """``GET <base>/nodes/<node>/digest`` with the node's token."""
    if not url.base:
        raise ServerError(f"node {node.name}: source url needs url.base in the inventory")
    address = url.base.rstrip("/") + manifest_url.DIGEST_PATH.format(node=node.name)
    token = manifest_url.node_token(manifest_url.read_secret(url.secret_file), node.name)
    request = urllib.request.Request(address, headers={manifest_url.TOKEN_HEADER: token})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            return dict(json.loads(answer.read()))
    except urllib.error.HTTPError as exc:
        raise ServerError(
            f"{address} answered {exc.code} {exc.reason}"
            + (
                ": the server has another secret than url.secret_file"
                if exc.code == 403
                else ": the server has another inventory (reload it)"
                if exc.code == 404
                else ""
            )
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ServerError(
            f"cannot reach spctl serve at {url.base} ({reason}): start `spctl serve` there"
        ) from None


def check_served(url: URLSettings, node: Node, desired: list[DesiredPod]) -> dict[str, Any]:
    """The node's digest, when the server serves what the inventory renders; else an error."""
    digest = fetch_digest(url, node)
    want = expected_sha256(node, desired)
    if digest.get("sha256") != want:
        problem = digest.get("reload_error")
        raise ServerError(
            f"node {node.name}: spctl serve at {url.base} serves sha256 {digest.get('sha256')}, "
            f"not {want} as the inventory renders now: it serves another (older) inventory or "
            "templates; reload it (SIGHUP, or wait for it to notice the change)"
            + (f"; its last reload failed: {problem}" if problem else "")
        )
    return digest


def wait_fetched(
    url: URLSettings, node: Node, want: str, timeout: float, since: Optional[float] = None
) -> None:
    """Wait until the node's kubelet has fetched ``want`` from the server (it polls every
    20 s by default, ``httpCheckFrequency``)."""
    deadline = time.monotonic() + timeout
    while True:
        fetch = fetch_digest(url, node).get("last_fetch") or {}
        if fetch.get("sha256") == want and (since is None or _epoch(fetch.get("at")) >= since):
            return
        if time.monotonic() >= deadline:
            raise ServerError(
                f"node {node.name}: its kubelet did not fetch the served pods within "
                f"{int(timeout)}s (last fetch: {fetch or 'never'}); check that the node reaches "
                f"{url.base} and that the kubelet logs no error for its manifest URL"
            )
        time.sleep(1.0)


def _epoch(value: Any) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        from datetime import datetime

        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return 0.0
    return 0.0


def plan_node(node: Node, desired: list[DesiredPod], facts: NodeFacts, url: URLSettings) -> Plan:
    if node.source == "url":
        token = manifest_url.node_token(manifest_url.read_secret(url.secret_file), node.name)
        return plan_url(node, desired, facts, token)
    return plan_file(node, desired, facts, url.base)


def deploy_node(
    node: Node,
    desired: list[DesiredPod],
    settings: Settings,
    url: URLSettings,
    on_step: steps.StepCallback = steps.silent,
) -> Outcome:
    if not settings.wait_lock:  # without --wait-lock a busy node fails the run
        return _deploy_node(node, desired, settings, url, on_step)
    return operations._replanned(lambda: _deploy_node(node, desired, settings, url, on_step))


def _deploy_node(
    node: Node,
    desired: list[DesiredPod],
    settings: Settings,
    url: URLSettings,
    on_step: steps.StepCallback,
) -> Outcome:
    if node.source == "url" and not settings.dry_run:
        check_served(url, node, desired)
    started = time.time()
    on_step(node.name, steps.CONNECTING)
    with agent_for(node, settings) as agent:
        on_step(node.name, steps.READING_FACTS)
        facts = read_facts(agent, node, [p.name for p in desired])
        on_step(node.name, steps.PLANNING)
        plan = operations._noted(plan_node(node, desired, facts, url), facts)
        if node.source == "url" and not settings.dry_run and desired:
            # The pods to wait for are the served ones: the kubelet must have fetched them
            # (right after a restart it fetches at once; otherwise within its period).
            if plan.kubelet is None:
                wait_fetched(url, node, expected_sha256(node, desired), settings.timeout)
            wait = [s.name for s in plan.pods]
        else:
            wait = [
                s.name
                for s in plan.pods
                if s.action == "unchanged"
                and (
                    plan.kubelet is not None or operations._phase(facts, plan, s.name) != "Running"
                )
            ]
        operations._applying(node, plan, settings, on_step, wait)
        outcome = execute(agent, facts, plan, settings, wait)
    if node.source == "url" and outcome.ok and plan.kubelet is not None and desired:
        wait_fetched(url, node, expected_sha256(node, desired), 60.0, since=started)
    return outcome


def diff_node(
    node: Node,
    desired: list[DesiredPod],
    settings: Settings,
    url: URLSettings,
    on_step: steps.StepCallback = steps.silent,
) -> Plan:

    def read(agent: Agent) -> Plan:
        on_step(node.name, steps.READING_FACTS)
        facts = read_facts(agent, node, [p.name for p in desired])
        return operations._noted(plan_node(node, desired, facts, url), facts)

    on_step(node.name, steps.CONNECTING)
    return read_node(node, settings, read)


# -- status ---------------------------------------------------------------------------------


@dataclass
class URLStatus:
    url: Optional[str]
    served: str  # in-sync | stale | unreachable
    served_sha256: Optional[str]
    expected_sha256: str
    last_fetch: Optional[dict[str, Any]]
    error: Optional[str] = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "served": self.served,
            "served_sha256": self.served_sha256,
            "expected_sha256": self.expected_sha256,
            "last_fetch": self.last_fetch,
            "error": self.error,
        }


def url_status(node: Node, desired: list[DesiredPod], url: URLSettings) -> URLStatus:
    want = expected_sha256(node, desired)
    try:
        digest = fetch_digest(url, node)
    except SpctlError as exc:
        return URLStatus(node.manifest_url, "unreachable", None, want, None, str(exc))
    served = "in-sync" if digest.get("sha256") == want else "stale"
    return URLStatus(
        node.manifest_url, served, digest.get("sha256"), want, digest.get("last_fetch")
    )


def node_status_url(
    node: Node, facts: NodeFacts, desired: list[DesiredPod], names: list[str]
) -> operations.NodeStatus:
    """The status of a node in URL mode: the pods the kubelet runs from its URL (config
    source http), with the same columns as directory mode; ``manifest`` says whether the
    pod is in the node's rendering (in-sync) or not (unmanaged)."""
    status = operations.node_status(node, facts, None, [])
    from spctl.profiles import detect

    try:
        node_name = detect(facts, node.profile).node_name(facts)
    except SpctlError:
        return status
    want = {p.name for p in desired}
    rows = []
    for name in names or sorted(want):
        kubelet_name = f"{name}-{node_name}"
        pod = next(
            (
                p
                for p in facts.pods
                if p.pod == kubelet_name
                and p.annotations.get("kubernetes.io/config.source") == SOURCE_HTTP
            ),
            None,
        )
        rows.append(
            operations._row(
                name, kubelet_name, node.manifest_url, "in-sync" if name in want else "missing", pod
            )
        )
    http_names = {r.pod for r in rows}
    status.pods = rows + [p for p in status.pods if p.pod not in http_names or p.file is not None]
    return status


def url_status_node(
    node: Node,
    desired: list[DesiredPod],
    names: list[str],
    settings: Settings,
    url: URLSettings,
) -> operations.NodeStatus:
    probes = operations.readiness_specs(desired, names)
    facts = read_node(node, settings, lambda agent: read_facts(agent, node, names, probes))
    return url_status_of(node, facts, desired, names, url)


def url_status_of(
    node: Node,
    facts: NodeFacts,
    desired: list[DesiredPod],
    names: list[str],
    url: URLSettings,
) -> operations.NodeStatus:
    """A URL-mode node's status from its facts, with what the server serves it (one request
    to the server); ``status --watch`` calls this on every refresh."""
    status = node_status_url(node, facts, desired, names)
    served = url_status(node, desired, url)
    status.url = served.as_dict()
    if served.served != "in-sync":  # the kubelet is not served what the inventory renders
        for row in status.pods:
            if row.file == node.manifest_url and row.manifest == "in-sync":
                row.manifest = "drifted"
    return status


def describe_url(info: dict[str, Any]) -> str:
    """One line for ``spctl status``: the URL, what the server serves, the last fetch."""
    served = {
        "in-sync": "the server serves what the inventory renders",
        "stale": "the server serves OTHER content than the inventory renders (reload it)",
        "unreachable": f"the server is unreachable ({info.get('error')})",
    }[info["served"]]
    fetch = info.get("last_fetch")
    if fetch:
        ago = int(time.time() - float(fetch.get("at") or 0))
        same = "current" if fetch.get("sha256") == info.get("expected_sha256") else "older"
        fetched = f"last fetched {ago}s ago ({same} content) from {fetch.get('remote')}"
    else:
        fetched = "never fetched since the server started"
    return f"{info.get('url')}: {served}; {fetched}"
