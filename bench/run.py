"""spctl against its peers, on the lab, on this machine.

    python bench/run.py [--nodes 50] [--peers] [--keep]
    python bench/run.py --pairs 7 [--peers]          (on a running lab)
    python bench/run.py --scale 50,200,1000 [--workers 100]   (on a running lab)

Starts (or reconciles) a lab of N nodes, then times, in one run:
  - `spctl lab up` for 3 nodes from nothing (images cached) and for N nodes;
  - spctl status, deploy (first, no change, a changed variable) on every node;
  - the floor of any SSH tool: paramiko connect + `true` on every node (N threads), and the
    OpenSSH client, N parallel `ssh node true`;
  - with --peers: pyinfra and ansible-core (installed from PyPI into bench/.venv-peers)
    doing the equivalent of a deploy: a directory, a templated manifest, a line in a file,
    and a check, first with changes, then with none.

Results are printed as a Markdown table with ratios to spctl's no-change deploy, and
written to bench/results/latest.md. Only 127.0.0.1 and the lab's nodes are contacted.

--pairs R: on the running lab, R rounds each running, one after another, the floor
(paramiko connect + `true` on every node, one thread per node, in its own process),
`spctl status`, a no-change `spctl deploy --all` and (with --peers) pyinfra's no-change
run; wall time and the control host's CPU (user + system of that process, from wait4)
of each; medians and ratios to the floor or pyinfra of the same round, in
bench/results/pairs.md.

--scale N,N,...: inventories of N inventory nodes over the running lab's containers
(inventory node i is container i mod C, under its own name; each container's sshd allows
MaxStartups 200 and MaxSessions 64), and for each N `spctl status` and a no-change
`spctl deploy --all` with --workers W: wall time, CPU per node, peak RSS of spctl, nodes
failed; in bench/results/scale.md.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import copy
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import paramiko
import yaml

REPO = Path(__file__).resolve().parent.parent
SPCTL = str(Path(sys.executable).parent / "spctl")
STATE = REPO / ".spctl-lab"
INVENTORY = STATE / "inventory.yaml"
PEERS_VENV = REPO / "bench" / ".venv-peers"
RESULTS = REPO / "bench" / "results"


def timed(
    label: str, func: Callable[[], object], results: list[tuple[str, float, str]], note: str = ""
) -> float:
    started = time.monotonic()
    func()
    elapsed = time.monotonic() - started
    results.append((label, elapsed, note))
    print(f"{elapsed:8.2f}s  {label}", file=sys.stderr)
    return elapsed


def spctl(*args: str, inventory: Path | None = INVENTORY) -> None:
    argv = [SPCTL, "-q"] + (["-i", str(inventory)] if inventory else []) + list(args)
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(
            f"spctl {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        )


def lab_nodes() -> list[tuple[str, int]]:
    inventory = yaml.safe_load(INVENTORY.read_text())
    return [(name, node["ssh"]["port"]) for name, node in inventory["nodes"].items()]


def paramiko_true(nodes: list[tuple[str, int]]) -> None:
    def one(port: int) -> None:
        client = paramiko.SSHClient()
        client.load_host_keys(str(STATE / "known_hosts"))
        client.connect(
            "127.0.0.1",
            port=port,
            username="root",
            key_filename=str(STATE / "id_ed25519"),
            allow_agent=False,
            look_for_keys=False,
            timeout=30,
        )
        _, stdout, _ = client.exec_command("true")
        assert stdout.channel.recv_exit_status() == 0
        client.close()

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        list(pool.map(one, [p for _, p in nodes]))


def openssh_true(nodes: list[tuple[str, int]]) -> None:
    procs = [
        subprocess.Popen(
            [
                "ssh",
                "-o",
                "BatchMode=yes",
                "-o",
                f"UserKnownHostsFile={STATE / 'known_hosts'}",
                "-o",
                "StrictHostKeyChecking=yes",
                "-i",
                str(STATE / "id_ed25519"),
                "-p",
                str(port),
                "root@127.0.0.1",
                "true",
            ]
        )
        for _, port in nodes
    ]
    assert all(p.wait() == 0 for p in procs)


def changed_inventory(tmp: Path, port: int) -> Path:
    inventory = yaml.safe_load(INVENTORY.read_text())
    inventory["defaults"]["vars"]["port"] = port
    inventory["defaults"]["ssh"]["key"] = str(STATE / "id_ed25519")
    inventory["defaults"]["ssh"]["known_hosts"] = str(STATE / "known_hosts")
    path = tmp / f"inventory-{port}.yaml"
    path.write_text(yaml.safe_dump(inventory))
    return path


# -- peers --------------------------------------------------------------------------------------

PYINFRA_DEPLOY = """\
from pyinfra.operations import files, server

files.directory(name="manifest directory", path="/etc/spctl-bench.d", mode="755")
files.template(name="manifest", src="{template}", dest="/etc/spctl-bench.d/static-web.yaml",
               image="spctl-lab/pod:1.0", port={port})
files.line(name="kubelet flag", path="/etc/spctl-bench.conf",
           line="^ARGS=.*$", replace='ARGS="--pod-manifest-path=/etc/spctl-bench.d/ --port={port}"')
server.shell(name="check", commands=["test -s /etc/spctl-bench.d/static-web.yaml"])
"""

ANSIBLE_PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: manifest directory
      ansible.builtin.file: {{path: /etc/spctl-bench-a.d, state: directory, mode: "0755"}}
    - name: manifest
      ansible.builtin.template: {{src: "{template}", dest: /etc/spctl-bench-a.d/static-web.yaml}}
      vars: {{image: "spctl-lab/pod:1.0", port: {port}}}
    - name: kubelet flag
      ansible.builtin.lineinfile:
        path: /etc/spctl-bench-a.conf
        regexp: "^ARGS="
        line: 'ARGS="--pod-manifest-path=/etc/spctl-bench-a.d/ --port={port}"'
        create: true
    - name: check
      ansible.builtin.command: test -s /etc/spctl-bench-a.d/static-web.yaml
      changed_when: false
"""


def ensure_peers() -> Path:
    python = PEERS_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "pyinfra==3.10.*", "ansible-core==2.19.*"],
            check=True,
        )
    return PEERS_VENV / "bin"


def pyinfra_run(bin_dir: Path, tmp: Path, nodes: list[tuple[str, int]], port: int) -> None:
    inventory = tmp / "pyinfra_inventory.py"
    hosts = ",\n".join(
        f'    ("{name}", {{"ssh_hostname": "127.0.0.1", "ssh_port": {p}, "ssh_user": "root", "ssh_key": "{STATE / "id_ed25519"}", '
        f'"ssh_known_hosts_file": "{STATE / "known_hosts"}", "ssh_strict_host_key_checking": "yes"}})'
        for name, p in nodes
    )
    inventory.write_text(f"hosts = [\n{hosts},\n]\n")
    deploy = tmp / f"deploy_{port}.py"
    deploy.write_text(
        PYINFRA_DEPLOY.format(template=REPO / "templates" / "static-web.yaml.j2", port=port)
    )
    done = subprocess.run(
        [
            str(bin_dir / "pyinfra"),
            "-y",
            "--parallel",
            str(len(nodes)),
            str(inventory),
            str(deploy),
        ],
        cwd=tmp,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"pyinfra failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def ansible_run(
    bin_dir: Path, tmp: Path, nodes: list[tuple[str, int]], port: int, adhoc: bool = False
) -> None:
    inventory = tmp / "ansible_hosts.ini"
    lines = ["[lab]"] + [f"{name} ansible_host=127.0.0.1 ansible_port={p}" for name, p in nodes]
    lines += [
        "[lab:vars]",
        "ansible_user=root",
        f"ansible_ssh_private_key_file={STATE / 'id_ed25519'}",
        f"ansible_ssh_common_args='-o UserKnownHostsFile={STATE / 'known_hosts'} -o StrictHostKeyChecking=yes'",
        "ansible_python_interpreter=/usr/bin/python3",
    ]
    inventory.write_text("\n".join(lines) + "\n")
    env = {
        **os.environ,
        "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_FORKS": str(len(nodes)),
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-tmp"),
        "ANSIBLE_NOCOLOR": "1",
    }
    if adhoc:
        argv = [
            str(bin_dir / "ansible"),
            "all",
            "-i",
            str(inventory),
            "-m",
            "command",
            "-a",
            "true",
        ]
    else:
        playbook = tmp / f"playbook_{port}.yaml"
        playbook.write_text(
            ANSIBLE_PLAYBOOK.format(template=REPO / "templates" / "static-web.yaml.j2", port=port)
        )
        argv = [str(bin_dir / "ansible-playbook"), "-i", str(inventory), str(playbook)]
    done = subprocess.run(argv, cwd=tmp, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"ansible failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


# -- paired runs and scale -----------------------------------------------------------------------


def measured(argv: list[str], cwd: Path = REPO) -> tuple[float, float, int, str]:
    """(wall seconds, CPU seconds, peak RSS in KiB, stdout) of one process: reaped with
    wait4, which gives that process's own CPU (its children's included) and ru_maxrss."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - started
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if code not in (0, 1):
        raise SystemExit(f"{argv[:4]} failed ({code}):\n{stderr[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, stdout


def floor_main(inventory: Path) -> None:
    """The floor, alone in its process: paramiko connect + `true` on every node at once."""
    data = yaml.safe_load(inventory.read_text())
    nodes = [(name, node["ssh"]["port"]) for name, node in data["nodes"].items()]
    paramiko_true(nodes)


def scale_inventory(n: int, tmp: Path) -> Path:
    """An inventory of n inventory nodes over the lab's containers (i -> container i mod C)."""
    base = yaml.safe_load(INVENTORY.read_text())
    containers = list(base["nodes"].items())
    member_of = {m: g for g, v in (base.get("groups") or {}).items() for m in v["members"]}
    groups: dict[str, dict[str, list[str]]] = {g: {"members": []} for g in base.get("groups") or {}}
    nodes = {}
    for i in range(n):
        name, node = containers[i % len(containers)]
        new = f"{name}-i{i:05d}"
        nodes[new] = copy.deepcopy(node)
        if name in member_of:
            groups[member_of[name]]["members"].append(new)
    base["nodes"], base["groups"] = nodes, groups
    base["templates"] = str(REPO / "templates")
    base["defaults"]["ssh"]["key"] = str(STATE / "id_ed25519")
    base["defaults"]["ssh"]["known_hosts"] = str(STATE / "known_hosts")
    path = tmp / f"scale-{n}.yaml"
    path.write_text(yaml.safe_dump(base))
    return path


def _load_note() -> str:
    load = os.getloadavg()
    running = subprocess.run(["docker", "ps", "-q"], capture_output=True, text=True).stdout
    return (
        f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}, "
        f"{len(running.split())} containers running on the engine"
    )


def pairs_main(rounds: int, peers: bool) -> None:
    nodes = lab_nodes()
    n = len(nodes)
    spctl_cmd = [SPCTL, "-q", "-i", str(INVENTORY)]
    cases: dict[str, list[str]] = {
        "floor: paramiko connect + `true`": [sys.executable, __file__, "--floor", str(INVENTORY)],
        "spctl status": [*spctl_cmd, "status", "-w", str(n)],
        "spctl deploy --all, no change": [*spctl_cmd, "deploy", "--all", "-w", str(n)],
    }
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        if peers:
            bin_dir = ensure_peers()
            pyinfra_run(bin_dir, tmp, nodes, 80)  # the state pyinfra's no-change run finds
            inventory = tmp / "pyinfra_inventory.py"
            deploy = tmp / "deploy_80.py"
            cases["pyinfra: no change"] = [
                str(bin_dir / "pyinfra"),
                "-y",
                "--parallel",
                str(n),
                str(inventory),
                str(deploy),
            ]
        spctl("status", "-w", str(n))  # the agent is on every node
        spctl("deploy", "--all", "-w", str(n))  # nothing left to change
        notes = [f"before: {_load_note()}"]
        samples: dict[str, list[tuple[float, float]]] = {k: [] for k in cases}
        for r in range(rounds):
            for label, argv in cases.items():
                wall, cpu, _rss, _ = measured(
                    argv, cwd=tmp if label.startswith("pyinfra") else REPO
                )
                samples[label].append((wall, cpu))
                print(f"round {r + 1}: {wall:6.2f}s {cpu:6.2f}s cpu  {label}", file=sys.stderr)
        notes.append(f"after: {_load_note()}")
    floor = samples["floor: paramiko connect + `true`"]
    lines = [
        f"# Paired runs, {n} lab nodes\n",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.node()}, "
        f"{os.cpu_count()} cores; {'; '.join(notes)}. {rounds} rounds, each running every "
        "line once in this order; medians of the rounds, and the median of each round's "
        "ratio to the floor (or to pyinfra) of the same round. CPU: user + system time of the "
        "process and its children (wait4).\n",
        "| what | wall | CPU | CPU per node | wall / floor | CPU / floor |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, values in samples.items():
        walls = [w for w, _ in values]
        cpus = [c for _, c in values]
        wr = statistics.median(w / f[0] for (w, _), f in zip(values, floor))
        cr = statistics.median(c / f[1] for (_, c), f in zip(values, floor))
        lines.append(
            f"| {label} | {statistics.median(walls):.2f} s | {statistics.median(cpus):.2f} s "
            f"| {statistics.median(cpus) / n * 1000:.1f} ms | {wr:.2f}x | {cr:.2f}x |"
        )
    if "pyinfra: no change" in samples:
        ratio = statistics.median(
            d[0] / p[0]
            for d, p in zip(samples["spctl deploy --all, no change"], samples["pyinfra: no change"])
        )
        lines.append(
            f"\nspctl's no-change deploy / pyinfra's no-change run, wall time: {ratio:.2f}x."
        )
    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "pairs.md").write_text(text)
    print(text)


def scale_main(sizes: list[int], workers: int) -> None:
    containers = len(lab_nodes())
    rows = []
    notes = [f"before: {_load_note()}"]
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        spctl("status", "-w", str(containers))
        spctl("deploy", "--all", "-w", str(containers))
        for n in sizes:
            inventory = scale_inventory(n, tmp)
            base = [SPCTL, "-q", "-i", str(inventory)]
            w = str(min(workers, n))
            for label, argv in (
                ("status", [*base, "status", "-w", w, "-o", "json"]),
                ("deploy --all, no change", [*base, "deploy", "--all", "-w", w, "-o", "json"]),
            ):
                wall, cpu, rss, out = measured(argv)
                failed = _failed(out, label)
                rows.append((n, label, wall, cpu, rss, failed))
                print(
                    f"{n:5d} {label}: {wall:.1f}s {cpu:.2f}s cpu {rss // 1024} MB, {failed} failed",
                    file=sys.stderr,
                )
    notes.append(f"after: {_load_note()}")
    lines = [
        f"# Scale: inventory nodes over {containers} lab containers\n",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.node()}, "
        f"{os.cpu_count()} cores; {'; '.join(notes)}. --workers {workers} (or N when smaller). "
        "CPU and peak RSS of the spctl process (wait4); one run each.\n",
        "| inventory nodes | command | wall | CPU | CPU per node | peak RSS | nodes failed |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for n, label, wall, cpu, rss, failed in rows:
        lines.append(
            f"| {n} | {label} | {wall:.1f} s | {cpu:.2f} s | {cpu / n * 1000:.1f} ms "
            f"| {rss / 1024:.0f} MB | {failed} |"
        )
    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scale.md").write_text(text)
    print(text)


def _failed(out: str, label: str) -> int:
    import json

    data = json.loads(out)
    if label == "status":
        return sum(1 for node in data["nodes"] if not node["reachable"] or node["error"])
    items = data if isinstance(data, list) else data.get("nodes", [])
    return sum(1 for item in items if not item.get("ok", True) or item.get("error"))


# -- main ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--peers", action="store_true", help="also time pyinfra and ansible-core")
    parser.add_argument("--keep", action="store_true", help="leave the lab running afterwards")
    parser.add_argument("--pairs", type=int, metavar="ROUNDS", help="paired runs on the lab")
    parser.add_argument("--scale", metavar="N,N,...", help="status and deploy at N inventory nodes")
    parser.add_argument("--workers", type=int, default=100, help="--workers of the scale runs")
    parser.add_argument("--floor", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.chdir(REPO)
    if args.floor:
        return floor_main(args.floor)
    if args.pairs:
        return pairs_main(args.pairs, args.peers)
    if args.scale:
        return scale_main([int(x) for x in args.scale.split(",")], args.workers)
    results: list[tuple[str, float, str]] = []

    spctl("lab", "up", "--nodes", "1", inventory=None)  # build or reuse the images
    spctl("lab", "down", inventory=None)
    timed(
        "spctl lab up, 3 nodes, images cached",
        lambda: spctl("lab", "up", "--nodes", "3", inventory=None),
        results,
    )
    timed(
        f"spctl lab up, 3 -> {args.nodes} nodes",
        lambda: spctl("lab", "up", "--nodes", str(args.nodes), inventory=None),
        results,
    )
    nodes = lab_nodes()
    n = len(nodes)

    timed(f"paramiko: connect + `true`, {n} threads", lambda: paramiko_true(nodes), results)
    if shutil.which("ssh"):
        timed(f"OpenSSH: {n} parallel `ssh node true`", lambda: openssh_true(nodes), results)
    workers = str(n)
    timed("spctl status (first: pushes the agent)", lambda: spctl("status", "-w", workers), results)
    timed("spctl status", lambda: spctl("status", "-w", workers), results)
    timed(
        "spctl deploy --all, first (kubelet config, restarts, pods up)",
        lambda: spctl("deploy", "--all", "-w", workers),
        results,
    )
    base = timed(
        "spctl deploy --all, no change", lambda: spctl("deploy", "--all", "-w", workers), results
    )
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        changed = changed_inventory(tmp, 8080)
        timed(
            "spctl deploy --all, changed variable (waits until every pod runs, --stable-for 5)",
            lambda: spctl("deploy", "--all", "-w", workers, inventory=changed),
            results,
        )
        changed = changed_inventory(tmp, 8081)
        timed(
            "spctl deploy --all, changed variable, --stable-for 0",
            lambda: spctl("deploy", "--all", "-w", workers, "--stable-for", "0", inventory=changed),
            results,
        )
        if args.peers:
            bin_dir = ensure_peers()
            timed(
                "pyinfra: dir + template + line + check, with changes",
                lambda: pyinfra_run(bin_dir, tmp, nodes, 80),
                results,
                "does not wait for pods",
            )
            timed(
                "pyinfra: the same, no change",
                lambda: pyinfra_run(bin_dir, tmp, nodes, 80),
                results,
            )
            timed(
                f"ansible-core: -m command -a true, forks={n}, pipelining",
                lambda: ansible_run(bin_dir, tmp, nodes, 80, adhoc=True),
                results,
            )
            timed(
                "ansible-core: the same four tasks as a playbook, with changes",
                lambda: ansible_run(bin_dir, tmp, nodes, 80),
                results,
                "does not wait for pods",
            )
            timed(
                "ansible-core: the same playbook, no change",
                lambda: ansible_run(bin_dir, tmp, nodes, 80),
                results,
            )
    if not args.keep:
        spctl("lab", "down", inventory=None)

    header = (
        f"# spctl benchmark, {n} lab nodes\n\n"
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.node()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}. One run; ratios are to "
        "`spctl deploy --all, no change` in the same run.\n\n"
    )
    table = ["| what | wall time | ratio | note |", "|---|---:|---:|---|"]
    table += [
        f"| {label} | {seconds:.2f} s | {seconds / base:.2f}x | {note} |"
        for label, seconds, note in results
    ]
    text = header + "\n".join(table) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
