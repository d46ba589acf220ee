"""Deploy progress: each node's step live on a terminal, one plain line per node elsewhere,
nothing with -q; data stays on stdout."""

from __future__ import annotations

import subprocess
from pathlib import Path

from spctl.desired.inventory import Node, SSHSettings, load_inventory
from spctl.desired.render import render_all
from spctl.plan.model import FileStep, Plan, PodStep
from spctl.profiles.base import KubeletChange
from spctl.transport import fleet
from spctl.verbs import steps
from spctl.verbs.deploy import deploy_node
from spctl.verbs.settings import Settings
from spctl.verbs.source import source_for
from tests.fakes.agent import FakeAgent, write_inventory
from tests.fakes.pty import SPCTL, PtyProcess
from tests.fakes.ssh_server import FakeNode


def test_fleet_tells_when_each_node_starts_and_ends() -> None:
    events: list[str] = []
    nodes = [Node(name=n, address=n, ssh=SSHSettings()) for n in ("a", "b")]
    fleet.run(
        nodes,
        lambda n: n.name,
        workers=1,
        on_start=lambda name: events.append(f"start {name}"),
        on_done=lambda r: events.append(f"done {r.node}"),
    )
    assert events == ["start a", "done a", "start b", "done b"]


def test_deploy_reports_its_steps_in_order(tmp_path: Path) -> None:
    agent = FakeAgent("my-node1")
    seen: list[tuple[str, str]] = []
    with FakeNode(agent) as n1:
        inv = load_inventory(write_inventory(tmp_path, {"my-node1": n1}, ("static-web",)))
        node = inv.select(("my-node1",), (), False)[0]
        desired = render_all([node], inv.fleet)[node.name]
        source = source_for(node, inv.url)
        outcome = deploy_node(node, desired, Settings(), source, lambda n, s: seen.append((n, s)))
    assert outcome.ok and outcome.changed
    assert seen == [
        ("my-node1", steps.CONNECTING),
        ("my-node1", steps.READING_FACTS),
        ("my-node1", steps.PLANNING),
        ("my-node1", "applying: writing static-web, waiting for pods"),
    ]


def plan(kubelet: bool, *steps: tuple[str, str]) -> Plan:
    change = KubeletChange("kubelet", (), False, "flag added") if kubelet else None
    return Plan(
        "n1", "fedora", "n1", "/etc/kubelet.d", "http://127.0.0.1:10248/healthz", "kubelet",
        change, tuple(PodStep(name, f"{name}.yaml", action, "") for name, action in steps),
    )  # fmt: skip


def test_the_apply_step_is_named_from_the_plan() -> None:
    assert steps.applying(plan(False, ("web", "unchanged"))) is None
    assert steps.applying(plan(False, ("web", "unchanged")), ["web"]) == (
        "applying: waiting for pods"
    )
    assert steps.applying(plan(True, ("web", "create"), ("lb", "update"))) == (
        "applying: reconfiguring kubelet, writing web, lb, waiting for pods"
    )
    assert steps.applying(plan(False, ("web", "remove"))) == (
        "applying: removing web, waiting until gone"
    )
    assert steps.applying(plan(False, ("web", "rollback"))) == (
        "applying: rolling back web, waiting for pods"
    )


def test_the_apply_step_counts_a_pods_files() -> None:
    write = FileStep("/etc/lb/lb.cfg", "write", "differs", "drifted")
    keep = FileStep("/etc/lb/other", "unchanged", "up to date", "in-sync")
    lb = PodStep("lb", "lb.yaml", "update", "", files=(write, keep))
    adopt = PodStep("web", "web.yaml", "adopt", "", files=(write, write))
    the_plan = Plan("n", "fedora", "n", "/d", "", "kubelet", None, (lb, adopt))
    assert steps.applying(the_plan) == (
        "applying: writing lb (1 file), rewriting web (2 files), waiting for pods"
    )


def fleet_of_two(tmp_path: Path) -> tuple[FakeAgent, FakeAgent]:
    slow, broken = FakeAgent("my-node1"), FakeAgent("my-node2")
    slow.apply_delay = 2.0  # the agent waiting for the pod
    broken.apply_error = "static-web did not run: CrashLoopBackOff"
    return slow, broken


def test_deploy_on_a_terminal_shows_each_nodes_step(tmp_path: Path) -> None:
    slow, broken = fleet_of_two(tmp_path)
    with FakeNode(slow) as n1, FakeNode(broken) as n2:
        inv = write_inventory(tmp_path, {"my-node1": n1, "my-node2": n2}, ("static-web",))
        term = PtyProcess(["-i", str(inv), "deploy", "--all", "--max-fail", "1"], tmp_path)
        try:
            assert term.wait_for(lambda s: "applying: writing static-web, waiting for" in s)
            assert term.wait_for(lambda s: "my-node2:" in s)
            live = term.text
            code = term.finish()
        finally:
            if term.proc.poll() is None:
                term.proc.kill()
    assert "deploy 2 nodes:" in live and "1 in flight" in live, live
    assert "1 failed" in live and "my-node1" in live, live
    screen = term.text
    # the failure stays above the panel; then the summary table
    assert "my-node2:" in screen and "CrashLoopBackOff" in screen
    assert "NODE" in screen and "RESULT" in screen
    assert "done (changed)" not in screen  # plain lines are for non-terminals
    assert code == 1


def run_plain(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    slow, broken = fleet_of_two(tmp_path)
    slow.apply_delay = 0.1
    with FakeNode(slow) as n1, FakeNode(broken) as n2:
        inv = write_inventory(tmp_path, {"my-node1": n1, "my-node2": n2}, ("static-web",))
        return subprocess.run(
            [SPCTL, "-i", str(inv), *args, "deploy", "--all", "--max-fail", "1"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=60,
        )


def test_deploy_off_a_terminal_prints_one_line_per_node(tmp_path: Path) -> None:
    done = run_plain(tmp_path)
    assert done.returncode == 1
    lines = sorted(line for line in done.stderr.splitlines() if line.startswith("spctl: my-node"))
    assert lines == [
        "spctl: my-node1: done (changed)",
        "spctl: my-node2: failed: static-web: static-web did not run: CrashLoopBackOff",
    ]
    assert "\x1b" not in done.stderr
    assert done.stdout.splitlines()[0].split() == ["NODE", "RESULT", "KUBELET", "PODS"]
    assert "spctl:" not in done.stdout


def test_deploy_quiet_prints_only_the_summary(tmp_path: Path) -> None:
    done = run_plain(tmp_path, "-q")
    assert done.returncode == 1
    assert "spctl: my-node" not in done.stderr
    assert "done (changed)" not in done.stderr
    assert done.stdout.splitlines()[1].split()[:2] == ["my-node1", "changed"]
    assert done.stdout.splitlines()[2].split()[:2] == ["my-node2", "failed"]
