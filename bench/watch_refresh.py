"""The control host's cost of one `status --watch` refresh against a cold `status`.

    python bench/watch_refresh.py [--nodes 50] [--rounds 10]

The nodes are the unit tests' paramiko SSH server (tests/fakes/ssh_server.py) with an agent
that answers facts at once (tests/fakes/agent.py), served by a child process so that
only the control host's CPU is measured here (time.process_time: every thread of this
process, paramiko's transport threads included). A cold status connects to every node
(TCP, key exchange, host key check, public key authentication), makes one facts call and
closes; a refresh is one facts call on a new channel of each node's open transport.
Contacts 127.0.0.1 only; needs no lab.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def serve(count: int, directory: Path) -> None:
    """The child: ``count`` fake nodes, an inventory naming them, until stdin closes."""
    import logging
    from contextlib import ExitStack

    from tests.fakes.agent import FakeAgent, write_inventory
    from tests.fakes.ssh_server import FakeNode

    logging.getLogger("paramiko").setLevel(logging.CRITICAL)  # clients hanging up at the end
    with ExitStack() as stack:
        nodes = {}
        for i in range(count):
            agent = FakeAgent(f"node{i}")
            agent.set_pod("static-web")
            nodes[f"node{i}"] = stack.enter_context(FakeNode(agent))
        write_inventory(directory, nodes, ("static-web",))
        print("ready", flush=True)
        sys.stdin.read()


def measure(count: int, rounds: int) -> dict[str, float]:
    from spctl.desired.inventory import load_inventory
    from spctl.plan.status import node_status
    from spctl.transport import fleet
    from spctl.verbs.settings import Settings
    from spctl.verbs.source import DirectorySource
    from spctl.verbs.status import status_node
    from spctl.verbs.watch import Watch

    with tempfile.TemporaryDirectory() as tmp:
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(count), tmp],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"
            inv = load_inventory(Path(tmp) / "inventory.yaml")
            nodes = inv.select((), (), all_nodes=True, require=False)
            settings = Settings()
            names = ["static-web"]
            cold_cpu, cold_wall = [], []
            for _ in range(rounds):
                cpu, wall = time.process_time(), time.monotonic()
                results, _ = fleet.run(
                    nodes,
                    lambda n: status_node(n, None, names, settings, DirectorySource(None)),
                    max_fail=None,
                )
                cold_cpu.append(time.process_time() - cpu)
                cold_wall.append(time.monotonic() - wall)
                assert all(r.succeeded for r in results), [r.error for r in results]
            watch = Watch(
                nodes,
                lambda n: names,
                lambda n, facts: node_status(n, facts, None, names),
                settings,
                interval=2.0,
            )
            refresh_cpu, refresh_wall = [], []
            with watch:
                watch.refresh()  # connects
                for _ in range(rounds):
                    cpu, wall = time.process_time(), time.monotonic()
                    statuses = watch.refresh()
                    refresh_cpu.append(time.process_time() - cpu)
                    refresh_wall.append(time.monotonic() - wall)
                    assert all(s.reachable for s in statuses)
                assert watch.connects == count
        finally:
            if child.stdin is not None:
                child.stdin.close()
            child.wait(30)
    return {
        "cold_cpu": statistics.median(cold_cpu),
        "cold_wall": statistics.median(cold_wall),
        "refresh_cpu": statistics.median(refresh_cpu),
        "refresh_wall": statistics.median(refresh_wall),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("directory", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, Path(args.directory))
        return
    m = measure(args.nodes, args.rounds)
    n = args.nodes
    print(f"{n} nodes, median of {args.rounds} rounds")
    print("| | wall | control-host CPU | CPU per node |")
    print("|---|---|---|---|")
    print(
        f"| cold `status` | {m['cold_wall']:.3f} s | {m['cold_cpu']:.3f} s "
        f"| {1000 * m['cold_cpu'] / n:.1f} ms |"
    )
    print(
        f"| `--watch` refresh | {m['refresh_wall']:.3f} s | {m['refresh_cpu']:.3f} s "
        f"| {1000 * m['refresh_cpu'] / n:.1f} ms |"
    )
    print(f"refresh / cold CPU: {m['refresh_cpu'] / m['cold_cpu']:.2f}x")


if __name__ == "__main__":
    main()
