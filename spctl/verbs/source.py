"""Where a node's kubelet gets its pods (its manifest directory, or a URL of ``spctl serve``),
and what deploy, diff and status do about it: a strategy chosen once per node.

Each verb runs the same steps for every node and asks the node's :class:`PodSource` at
the points where the two sources differ:

- ``check``: before the node is touched (URL: the server must serve what the inventory
  renders now, or nothing changes); ``check_restart``, the same for ``spctl restart`` (URL:
  refused);
- ``plan``: the plan from the facts (directory: the files; URL: the kubelet's URL, and
  spctl's files of the served pods taken out of the directory);
- ``before_apply``: just before the agent's apply call (URL: wait until the kubelet has
  fetched what the server serves, when it is not restarted);
- ``waits``: the pods the agent waits for although their file does not change, each with how
  it knows them (directory: by their file's content; URL: by their source);
- ``after_apply``: after the agent's answer (URL: the restarted kubelet fetched the URL);
- ``status``: the node's status rows from its facts.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, Optional

from spctl_agent.protocol import SOURCE_HTTP, messages

from spctl import manifest_url
from spctl.desired.inventory import Node, URLSettings
from spctl.desired.render import DesiredPod
from spctl.desired.restart_policies import restart_policies
from spctl.errors import SpctlError
from spctl.facts import NodeFacts
from spctl.plan.model import Plan
from spctl.plan.status import NodeStatus, URLStatus, node_status, url_node_status
from spctl.plan.url import plan_file, plan_url, refuse_files
from spctl.serve.document import document_for
from spctl.transport.serve_client import ServerError, fetch_digest
from spctl.verbs.outcome import Outcome, ready
from spctl.verbs.settings import Settings


class PodSource:
    """Where one node's kubelet gets its pods; each verb calls these at its fixed points."""

    def check(self, node: Node, desired: list[DesiredPod], settings: Settings) -> None:
        """Refuse before the node is touched."""

    def check_restart(self, node: Node) -> None:
        """Refuse ``spctl restart`` before the node is touched (URL: always)."""

    def plan(
        self, node: Node, desired: list[DesiredPod], facts: NodeFacts, force: bool = False
    ) -> Plan:
        """``force``: files spctl owns that changed on the node are overwritten (deploy
        --force); without it the plan refuses them (``plan.changed_on_node``)."""
        raise NotImplementedError

    def before_apply(
        self, node: Node, desired: list[DesiredPod], plan: Plan, settings: Settings
    ) -> None:
        """Just before the agent's apply call (not in a dry run)."""

    def waits(
        self, desired: list[DesiredPod], plan: Plan, facts: NodeFacts
    ) -> list[dict[str, Any]]:
        """The pods the agent waits for although their file does not change, as the apply
        request's ``wait_running`` entries (``messages.wait_for``)."""
        raise NotImplementedError

    def after_apply(
        self, node: Node, desired: list[DesiredPod], plan: Plan, outcome: Outcome, started: float
    ) -> None:
        """After the agent's answer (``started``: when the run began, time.time())."""

    def status(
        self,
        node: Node,
        facts: NodeFacts,
        desired: Optional[list[DesiredPod]],
        names: list[str],
    ) -> NodeStatus:
        raise NotImplementedError


class DirectorySource(PodSource):
    """The pods are files in the kubelet's manifest directory."""

    def __init__(self, base: Optional[str]) -> None:
        #: ``url.base``: how a manifest URL spctl set earlier is recognised (and taken out).
        self.base = base

    def plan(
        self, node: Node, desired: list[DesiredPod], facts: NodeFacts, force: bool = False
    ) -> Plan:
        return plan_file(node, desired, facts, self.base, force)

    def waits(
        self, desired: list[DesiredPod], plan: Plan, facts: NodeFacts
    ) -> list[dict[str, Any]]:
        # Pods whose file is unchanged still need a wait when the kubelet is restarted or
        # when they are not running now (a previous deploy that did not converge). A run
        # waits only for content it planned from: the file must still hold it.
        policies = restart_policies(desired, [s.name for s in plan.pods])
        return [
            messages.wait_for(
                pod=s.name,
                file=s.file,
                expected_sha256=s.expected_sha256,
                restart_policy=policies.get(s.name),
            )
            for s in plan.pods
            if s.action == "unchanged"
            and (plan.kubelet is not None or not ready(facts, plan, s.name))
        ]

    def status(
        self,
        node: Node,
        facts: NodeFacts,
        desired: Optional[list[DesiredPod]],
        names: list[str],
    ) -> NodeStatus:
        return node_status(node, facts, desired, names)


class URLSource(PodSource):
    """The pods come from ``spctl serve`` at ``url.base`` (docs/url-mode.md). The token
    reaches the node only inside the agent's request, on its stdin."""

    def __init__(self, url: URLSettings) -> None:
        self.url = url

    def check(self, node: Node, desired: list[DesiredPod], settings: Settings) -> None:
        refuse_files(node, desired)
        if not settings.dry_run:
            self.check_served(node, desired)

    def check_restart(self, node: Node) -> None:
        # A restart writes the node's manifest with an annotation (plan.restart); here the
        # pod is the document the server renders from the inventory, which has none.
        raise SpctlError(
            f"node {node.name}: restart works in directory mode only; this node's kubelet "
            f"gets its pods from {node.manifest_url} (source: url), where spctl serve renders "
            "them from the inventory. To restart them, change the pod in its template (an "
            "annotation will do) and `spctl deploy` it"
        )

    def plan(
        self, node: Node, desired: list[DesiredPod], facts: NodeFacts, force: bool = False
    ) -> Plan:
        token = manifest_url.node_token(manifest_url.read_secret(self.url.secret_file), node.name)
        return plan_url(node, desired, facts, token, force)

    def before_apply(
        self, node: Node, desired: list[DesiredPod], plan: Plan, settings: Settings
    ) -> None:
        # The pods the agent waits for are the served ones: the kubelet must have fetched
        # them (right after a restart it fetches at once; otherwise within its period).
        if desired and plan.kubelet is None:
            self.wait_fetched(node, expected_sha256(node, desired), settings.timeout)

    def waits(
        self, desired: list[DesiredPod], plan: Plan, facts: NodeFacts
    ) -> list[dict[str, Any]]:
        if not desired:
            return []
        # Served: no file to check; the pod counts when it comes from the URL.
        policies = restart_policies(desired, [s.name for s in plan.pods])
        return [
            messages.wait_for(
                pod=s.name, sources=[SOURCE_HTTP], restart_policy=policies.get(s.name)
            )
            for s in plan.pods
        ]

    def after_apply(
        self, node: Node, desired: list[DesiredPod], plan: Plan, outcome: Outcome, started: float
    ) -> None:
        if outcome.ok and plan.kubelet is not None and desired:
            self.wait_fetched(node, expected_sha256(node, desired), 60.0, since=started)

    def status(
        self,
        node: Node,
        facts: NodeFacts,
        desired: Optional[list[DesiredPod]],
        names: list[str],
    ) -> NodeStatus:
        """With what the server serves the node (one request to the server); ``status
        --watch`` calls this on every refresh."""
        desired = desired or []
        return url_node_status(node, facts, desired, names, self.served(node, desired))

    # -- the server ---------------------------------------------------------------------

    def served(self, node: Node, desired: list[DesiredPod]) -> URLStatus:
        want = expected_sha256(node, desired)
        try:
            digest = fetch_digest(self.url, node)
        except SpctlError as exc:
            return URLStatus(node.manifest_url, "unreachable", None, want, None, str(exc))
        served = "in-sync" if digest.get("sha256") == want else "stale"
        return URLStatus(
            node.manifest_url, served, digest.get("sha256"), want, digest.get("last_fetch")
        )

    def check_served(self, node: Node, desired: list[DesiredPod]) -> dict[str, Any]:
        """The node's digest, when the server serves what the inventory renders; else an error."""
        digest = fetch_digest(self.url, node)
        want = expected_sha256(node, desired)
        if digest.get("sha256") != want:
            problem = digest.get("reload_error")
            raise ServerError(
                f"node {node.name}: spctl serve at {self.url.base} serves sha256 "
                f"{digest.get('sha256')}, not {want} as the inventory renders now: it serves "
                "another (older) inventory or templates; reload it (SIGHUP, or wait for it to "
                "notice the change)" + (f"; its last reload failed: {problem}" if problem else "")
            )
        return digest

    def wait_fetched(
        self, node: Node, want: str, timeout: float, since: Optional[float] = None
    ) -> None:
        """Wait until the node's kubelet has fetched ``want`` from the server (it polls every
        20 s by default, ``httpCheckFrequency``)."""
        deadline = time.monotonic() + timeout
        while True:
            fetch = fetch_digest(self.url, node).get("last_fetch") or {}
            if fetch.get("sha256") == want and (since is None or _epoch(fetch.get("at")) >= since):
                return
            if time.monotonic() >= deadline:
                raise ServerError(
                    f"node {node.name}: its kubelet did not fetch the served pods within "
                    f"{int(timeout)}s (last fetch: {fetch or 'never'}); check that the node "
                    f"reaches {self.url.base} and that the kubelet logs no error for its "
                    "manifest URL"
                )
            time.sleep(1.0)


def source_for(node: Node, url: URLSettings) -> PodSource:
    """The node's pod source: a URL when the inventory gives it one (``source: url``)."""
    return URLSource(url) if node.manifest_url else DirectorySource(url.base)


def expected_sha256(node: Node, desired: list[DesiredPod]) -> str:
    """The sha256 of the document ``spctl serve`` must answer for ``node`` when the inventory
    renders ``desired`` for it (``serve.document.document_for``, as the server renders it)."""
    return document_for(node, desired).sha256


def _epoch(value: Any) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return 0.0
    return 0.0
