"""CPU of one facts call on a lab node, before and after a change of the agent.

    python bench/agent_cpu.py [--before REF] [--node my-node1] [--calls 40] [--rounds 7]

Installs two agents side by side in one lab node's /tmp: the agent of git REF (default
the merge base with main) and the agent of the work tree, each extracted as spctl
installs it (bytecode kept beside it). Then, in rounds that interleave them, runs each
``--calls`` times exactly as spctl runs a call (the sh python finder, ``python3 -I -S``,
the facts request spctl sends, on stdin) and counts the CPU the node spent for it: user +
system time of every process of the call (sh, python, systemctl), from getrusage
(RUSAGE_CHILDREN) on the node. Beside them, in the same rounds, the floors: ``sh -c true``,
``python3 -I -S -c pass``, and the one ``systemctl show`` a facts call runs. Medians of
the rounds go to bench/results/agent-cpu.md. Needs a lab (``spctl lab up``) with pods
deployed; ``SPCTL_LAB_NAME`` names it.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"

# Runs on the node: N runs of one argv with the same stdin; CPU per run of all its processes.
NODE_LOOP = """
import json, resource, subprocess, sys
n, argv = int(sys.argv[1]), json.loads(sys.argv[2])
payload = sys.stdin.buffer.read()
r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
for _ in range(n):
    done = subprocess.run(argv, input=payload, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if done.returncode != 0:
        sys.exit("failed: %r" % done.stderr[-500:])
r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"user": (r1.ru_utime - r0.ru_utime) * 1000 / n,
                  "sys": (r1.ru_stime - r0.ru_stime) * 1000 / n, "out": done.stdout.decode()}))
"""


def container(node: str) -> str:
    return f"{os.environ.get('SPCTL_LAB_NAME') or 'spctl-lab'}-{node}"


def docker(*args: str, stdin: bytes = b"") -> bytes:
    return subprocess.run(["docker", *args], input=stdin, capture_output=True, check=True).stdout


def agent_files(ref: str | None) -> dict[str, bytes]:
    """{path under spctl_agent/: bytes} of the agent at git ``ref`` (None: the work tree)."""
    if ref is None:
        root = REPO / "agent"
        return {
            str(p.relative_to(root)): p.read_bytes()
            for p in root.rglob("*.py")
            if "__pycache__" not in p.parts
        }
    tar = subprocess.run(
        ["git", "archive", ref, "agent"], cwd=REPO, capture_output=True, check=True
    ).stdout
    files = {}
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        for member in archive.getmembers():
            if member.isfile() and member.name.endswith(".py"):
                data = archive.extractfile(member)
                assert data is not None
                files[member.name[len("agent/") :]] = data.read()
    return files


def install(name: str, files: dict[str, bytes], home: str) -> None:
    """The files as /tmp/<home>/spctl_agent/ on the node (a tar through docker cp)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path, data in files.items():
            info = tarfile.TarInfo(f"{home}/spctl_agent/{path}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    docker("exec", name, "rm", "-rf", f"/tmp/{home}")
    docker("exec", "-i", name, "tar", "-x", "-C", "/tmp", stdin=buffer.getvalue())


def main() -> None:
    sys.path.insert(0, str(REPO))
    from spctl_agent.protocol import messages

    from spctl import profiles
    from spctl.transport import agent_archive

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--before", default=None, help="git ref of the 'before' agent")
    parser.add_argument("--node", default="my-node1")
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    before = (
        args.before
        or subprocess.run(
            ["git", "merge-base", "HEAD", "main"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    name = container(args.node)
    install(name, agent_files(before), "agent-before")
    install(name, agent_files(None), "agent-after")
    docker(
        "exec", "-i", name, "sh", "-c", "cat > /tmp/spctl-bench-loop.py", stdin=NODE_LOOP.encode()
    )
    request = messages.facts_request(pods=["static-web"], **profiles.facts_request())
    payload = (json.dumps(request) + "\n").encode()
    units = [f"{u}.service" for u in request["units"]]
    cases = {
        "facts call, before": agent_archive.python_argv(
            "-c", agent_archive.run_code("/tmp/agent-before")
        ),
        "facts call, after": agent_archive.python_argv(
            "-c", agent_archive.run_code("/tmp/agent-after")
        ),
        "floor: sh -c true": ["sh", "-c", "true"],
        "floor: python3 -I -S -c pass": ["python3", "-I", "-S", "-c", "pass"],
        "floor: the one systemctl show": [
            "systemctl",
            "show",
            "--no-pager",
            "-p",
            "LoadState,ActiveState,SubState,"
            "FragmentPath,DropInPaths,Environment,EnvironmentFiles,ExecStart,MainPID,"
            "InvocationID,NRestarts",
            *units,
        ],
    }
    answers = {}
    for label in ("facts call, before", "facts call, after"):  # compile the bytecode, compare
        out = json.loads(
            docker(
                "exec",
                "-i",
                name,
                "python3",
                "/tmp/spctl-bench-loop.py",
                "1",
                json.dumps(cases[label]),
                stdin=payload,
            )
        )
        answers[label] = out["out"]
    samples: dict[str, list[float]] = {label: [] for label in cases}
    for round_ in range(args.rounds):
        for label, argv in cases.items():
            out = json.loads(
                docker(
                    "exec",
                    "-i",
                    name,
                    "python3",
                    "/tmp/spctl-bench-loop.py",
                    str(args.calls),
                    json.dumps(argv),
                    stdin=payload,
                )
            )
            samples[label].append(out["user"] + out["sys"])
        print(
            f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in samples.items()),
            file=sys.stderr,
        )
    load = os.getloadavg()
    lines = [
        f"# CPU of one facts call on a lab node ({args.node})\n",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.node()}, {os.cpu_count()} cores, "
        f"load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}, "
        f"{len(docker('ps', '-q').splitlines())} containers running. Before: agent of {before[:12]}; after: the work "
        f"tree. {args.rounds} interleaved rounds of {args.calls} calls each; CPU = user + system "
        "time of every process of a call (getrusage of the children, on the node), median of "
        "the rounds (min-max).\n",
        "| what | CPU per call | min - max |",
        "|---|---:|---:|",
    ]
    for label, values in samples.items():
        lines.append(
            f"| {label} | {statistics.median(values):.1f} ms | {min(values):.1f} - {max(values):.1f} ms |"
        )
    b, a = (
        statistics.median(samples["facts call, before"]),
        statistics.median(samples["facts call, after"]),
    )
    floors = sum(statistics.median(samples[k]) for k in cases if k.startswith("floor"))
    lines.append("")
    lines.append(
        f"After / before: {a / b:.2f}x. The three floors together (a process each, which a "
        f"facts call cannot do without): {floors:.1f} ms; the agent's own part after the change: "
        f"{a - floors:.1f} ms (before: {b - floors:.1f} ms)."
    )
    same = json.loads(answers["facts call, before"]) == json.loads(answers["facts call, after"])
    lines.append(
        f"\nThe two agents' answers to the request are {'the same' if same else 'DIFFERENT'}."
    )
    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "agent-cpu.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
