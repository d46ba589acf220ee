"""Reading what systemd and the distributions really print and write, and the facts calls
the profiles make (plan scenarios are in tests/cases/plan/)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from spctl_agent import facts as agent_facts
from spctl_agent.main import handle
from spctl_agent.protocol import MAX_MANIFEST_BYTES
from spctl_agent.protocol.systemd_show import (
    environment_file_paths,
    exec_start_argvs,
    parse_show,
)

from spctl import profiles
from spctl.desired.inventory import Node, SSHSettings
from spctl.errors import NodeError
from spctl.facts import NodeFacts, Unit
from spctl.profiles.fedora import set_static_pod_path
from spctl.profiles.rancher import _flag
from spctl.profiles.unitexec import expand
from spctl.transport.agent import Agent
from spctl.transport.ssh import Completed
from spctl.transport.sudo import Sudo
from spctl.transport.target import SSHTarget
from spctl.verbs.read import read_facts
from tests.fakes.agent_node import FakeSystemd, make_node

# `systemctl show --no-pager -p LoadState,...,EnvironmentFiles,ExecStart,MainPID kubelet.service
# k3s.service` in systemd's format (src/systemctl/systemctl-show.c): one EnvironmentFiles=
# line per file, one ExecStart= line per command, a blank line between units.
SHOW = """LoadState=loaded
ActiveState=active
DropInPaths=/etc/systemd/system/kubelet.service.d/http-proxy.conf
EnvironmentFiles=/etc/kubernetes/config (ignore_errors=yes)
EnvironmentFiles=/etc/kubernetes/kubelet (ignore_errors=yes)
EnvironmentFiles=/etc/proxy settings/kubelet.env (ignore_errors=no)
ExecStart={ path=/usr/bin/kubelet ; argv[]=/usr/bin/kubelet $KUBE_LOGTOSTDERR $KUBELET_ARGS ; ignore_errors=no ; start_time=[Sat 2026-11-28 04:00:00 UTC] ; stop_time=[n/a] ; pid=811 ; code=(null) ; status=0/0 }
MainPID=811

LoadState=loaded
ActiveState=active
DropInPaths=/etc/systemd/system/k3s.service.d/env.conf
Environment=K3S_NODE_NAME=a [unprintable] HTTPS_PROXY=http://proxy:3128
EnvironmentFiles=/etc/systemd/system/k3s.service.env (ignore_errors=yes)
ExecStart={ path=/usr/local/bin/k3s ; argv[]=/usr/local/bin/k3s server --node-name a ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }
MainPID=0
"""


def test_every_environment_files_line_is_kept_by_the_agent_and_parsed_by_spctl():
    kubelet, k3s = (parse_show(block) for block in SHOW.split("\n\n"))
    assert len(kubelet["EnvironmentFiles"]) == 3
    expected = (
        "/etc/kubernetes/config",
        "/etc/kubernetes/kubelet",
        "/etc/proxy settings/kubelet.env",
    )
    assert tuple(environment_file_paths(kubelet)) == expected
    unit = Unit.from_agent("kubelet", kubelet)
    assert unit.environment_files == expected
    assert unit.exec_start == (("/usr/bin/kubelet", "$KUBE_LOGTOSTDERR", "$KUBELET_ARGS"),)
    assert Unit.from_agent("k3s", k3s).exec_start[0][-2:] == ("--node-name", "a")
    # A value with a space is printed as "[unprintable]" and left out.
    assert Unit.from_agent("k3s", k3s).environment == (
        "K3S_NODE_NAME=a",
        "HTTPS_PROXY=http://proxy:3128",
    )
    assert unit.environment == ()


def test_exec_start_of_the_ex_property_and_of_several_commands():
    lines = [
        "{ path=/bin/true ; argv[]=/bin/true ; flags= ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }",
        "{ path=/usr/bin/kubelet ; argv[]=/usr/bin/kubelet --v=2 ; ignore_errors=yes ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }",
    ]
    assert exec_start_argvs({"ExecStart": lines}) == [("/bin/true",), ("/usr/bin/kubelet", "--v=2")]
    assert exec_start_argvs({"ExecStart": []}) == [] and exec_start_argvs({}) == []
    # An agent of the previous version reported one string: still read.
    assert environment_file_paths({"EnvironmentFiles": "/a (ignore_errors=yes)"}) == ["/a"]


def test_unit_variables_expand_as_systemd_expands_them():
    env = {"ARGS": "--a=1  --b=2", "ONE": "x y", "EMPTY": ""}
    argv = ("/bin/k", "$ARGS", "${ONE}", "--c=${ONE}", "$EMPTY", "$UNSET", "--d=$ARGS")
    # $FOO alone: split at whitespace, zero or more words; ${FOO}: one word, exactly;
    # an unbraced $FOO inside a word is not expanded (systemd.service(5), "Command lines").
    assert expand(argv, env) == ["/bin/k", "--a=1", "--b=2", "x y", "--c=x y", "--d=$ARGS"]


def test_static_pod_path_is_set_in_yaml_and_json_kubelet_configurations():
    yaml_text = "# keep me\nkind: KubeletConfiguration\nstaticPodPath: /old\naddress: 127.0.0.1\n"
    assert set_static_pod_path(yaml_text, "/etc/kubelet.d") == yaml_text.replace(
        "/old", "/etc/kubelet.d"
    )
    assert set_static_pod_path("kind: KubeletConfiguration", "/d").endswith(
        "KubeletConfiguration\nstaticPodPath: /d\n"
    )
    out = set_static_pod_path('{"kind": "KubeletConfiguration", "staticPodPath": "/old"}', "/d")
    assert json.loads(out) == {"kind": "KubeletConfiguration", "staticPodPath": "/d"}


@pytest.mark.parametrize(
    "args, names, boolean, value",
    [
        (["--node-name", "a", "--node-name=b"], ("node-name",), False, "b"),
        (["-d", "/x"], ("data-dir", "d"), False, "/x"),
        (["--data-dir=/y", "-d=/z"], ("data-dir", "d"), False, "/z"),
        (["--with-node-id"], ("with-node-id",), True, "true"),
        (["--with-node-id=false"], ("with-node-id",), True, "false"),
        (["--with-node-id", "server"], ("with-node-id",), True, "true"),
        (["--node-name"], ("node-name",), False, None),
        (["node-name", "x"], ("node-name",), False, None),
    ],
)
def test_k3s_flags_are_read_as_gos_flag_package_reads_them(args, names, boolean, value):
    assert _flag(args, names, boolean) == value


def test_the_facts_request_reads_env_files_and_drop_in_directories():
    request = profiles.facts_request()
    assert request["read_env_files"] is True
    assert "/etc/rancher/k3s/config.yaml.d/*" in request["read_globs"]
    assert "/etc/rancher/rke2/config.yaml.d/*" in request["read_globs"]
    assert "/etc/rancher/node/id" in request["read"]
    # Config files are read as globs: the agent redacts their secrets.
    assert "/etc/rancher/k3s/config.yaml" in request["read_globs"]
    assert "/etc/rancher/k3s/config.yaml" not in request["read"]


def test_the_agent_reads_globbed_drop_ins_sorted_and_skips_oversized_files(tmp_path):
    d = tmp_path / "config.yaml.d"
    d.mkdir()
    (d / "20-b.yaml").write_text("node-name: b\n")
    (d / "10-a.yml").write_text("node-name: a\n")
    (d / "sub").mkdir()
    (d / "30-big.yaml").write_bytes(b"x" * (MAX_MANIFEST_BYTES + 1))  # the agent's read cap
    matched, texts = agent_facts.read_globs([f"{d}/*", f"{tmp_path}/none/*"])
    assert matched == {
        f"{d}/*": [f"{d}/10-a.yml", f"{d}/20-b.yaml", f"{d}/30-big.yaml"],
        f"{tmp_path}/none/*": [],
    }
    assert texts[f"{d}/20-b.yaml"] == "node-name: b\n"
    assert texts[f"{d}/30-big.yaml"] is None


class K3sSystemd(FakeSystemd):
    """A k3s unit as the agent's systemctl reader reports it: two environment files."""

    def __init__(self, env_files) -> None:
        super().__init__(cmdline=["/usr/local/bin/k3s server"])
        self.env_files = env_files

    def show(self, units):
        shown = super().show(units)
        for props in shown.values():
            props["EnvironmentFiles"] = [f"{p} (ignore_errors=yes)" for p in self.env_files]
        return shown


def test_the_agent_reads_every_environment_file_of_its_units_when_asked(tmp_path):
    first, second = tmp_path / "k3s.service.env", tmp_path / "proxy env"
    first.write_text("K3S_NODE_NAME=edge\n")
    second.write_text("HTTPS_PROXY=http://proxy:3128\n")
    node = make_node(tmp_path, systemd=K3sSystemd([str(first), str(second), "/nonexistent"]))
    request = {"op": "facts", "units": ["k3s"], "read_env_files": True, "read_globs": []}
    answer = handle(request, node)
    assert answer["ok"], answer
    assert answer["files"][str(first)] == "K3S_NODE_NAME=edge\n"
    assert answer["files"][str(second)].startswith("HTTPS_PROXY=")
    assert answer["files"]["/nonexistent"] is None
    assert str(first) not in handle({**request, "read_env_files": False}, node)["files"]


def test_secrets_in_env_files_and_config_files_stay_on_the_node(tmp_path):
    env = tmp_path / "k3s.service.env"
    env.write_text("K3S_TOKEN='K10abc::server:xyz'\nK3S_NODE_NAME=edge\n")
    config = tmp_path / "config.yaml"
    config.write_text(
        "token: abc\nagent-token: def\ndatastore-endpoint: mysql://u:pw@tcp(db)/k3s\n"
        "node-name: edge\nkubelet-arg:\n  - max-pods=150\n"
    )
    kept = tmp_path / "kubelet"  # a file spctl edits: read verbatim
    kept.write_text("KUBELET_ARGS=--v=2\nKUBELET_TOKEN_FILE=/x\n")
    node = make_node(tmp_path, systemd=K3sSystemd([str(env), str(kept)]))
    answer = handle(
        {
            "op": "facts",
            "units": ["k3s"],
            "read": [str(kept)],
            "read_env_files": True,
            "read_globs": [str(config)],
        },
        node,
    )
    assert answer["files"][str(env)] == "K3S_TOKEN=REDACTED-BY-SPCTL\nK3S_NODE_NAME=edge\n"
    assert answer["files"][str(config)] == (
        "token: REDACTED-BY-SPCTL\nagent-token: REDACTED-BY-SPCTL\n"
        "datastore-endpoint: REDACTED-BY-SPCTL\nnode-name: edge\nkubelet-arg:\n  - max-pods=150\n"
    )
    assert answer["files"][str(kept)] == kept.read_text()
    assert "xyz" not in json.dumps(answer) and "pw@" not in json.dumps(answer)


class FakeAgent:
    """Answers facts calls from a dict of files, recording each request."""

    def __init__(self, files: dict[str, str], units: dict[str, Any]) -> None:
        self.files = files
        self.units = units
        self.requests: list[dict[str, Any]] = []

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(json.loads(json.dumps(request)))
        import fnmatch

        globs = {
            g: sorted(p for p in self.files if fnmatch.fnmatch(p, g)) for g in request["read_globs"]
        }
        wanted = set(request["read"]) | {p for ps in globs.values() for p in ps}
        wanted |= {p for u in self.units.values() for p in environment_file_paths(u)}
        return {
            "hostname": "n1",
            "files": {p: self.files.get(p) for p in wanted},
            "globs": globs,
            "units": self.units,
            "dirs": {d: {"exists": False, "entries": []} for d in request["manifest_dirs"]},
        }


def _k3s(argv: str) -> dict[str, Any]:
    return {
        "LoadState": "loaded",
        "ActiveState": "active",
        "EnvironmentFiles": ["/etc/systemd/system/k3s.service.env (ignore_errors=yes)"],
        "ExecStart": [
            f"{{ path=/usr/local/bin/k3s ; argv[]={argv} ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }}"
        ],
        "cmdline": ["/usr/local/bin/k3s server"],  # the rewritten process title
    }


NODE = Node(name="n1", address="127.0.0.1", ssh=SSHSettings())


def test_a_default_k3s_node_costs_one_facts_call():
    agent = FakeAgent(
        {"/etc/systemd/system/k3s.service.env": "K3S_NODE_NAME=Edge\n"},
        {"k3s": _k3s("/usr/local/bin/k3s server")},
    )
    facts = read_facts(agent, NODE, ["web"])  # type: ignore[arg-type]
    assert len(agent.requests) == 1
    assert profiles.detect(facts).node_name(facts) == "edge"


def test_a_custom_config_file_and_data_dir_take_the_calls_they_need():
    files = {
        "/etc/systemd/system/k3s.service.env": "K3S_CONFIG_FILE=/opt/k3s.yaml\n",
        "/opt/k3s.yaml": "data-dir: /srv/k3s\n",
        "/opt/k3s.yaml.d/10.yaml": "node-name: from-drop-in\n",
    }
    agent = FakeAgent(files, {"k3s": _k3s("/usr/local/bin/k3s server")})
    facts: NodeFacts = read_facts(agent, NODE, ["web"])  # type: ignore[arg-type]
    assert len(agent.requests) == 3
    assert agent.requests[1]["read_globs"][-2:] == ["/opt/k3s.yaml", "/opt/k3s.yaml.d/*"]
    assert agent.requests[2]["manifest_dirs"][-1] == "/srv/k3s/agent/pod-manifests"
    profile = profiles.detect(facts)
    assert profile.node_name(facts) == "from-drop-in"
    assert profile.manifest_dir(facts) == "/srv/k3s/agent/pod-manifests"


class TtyConnection:
    """A node whose sudoers says `Defaults requiretty`: sudo answers as sudo does."""

    def __init__(self) -> None:
        self.target = SSHTarget(host="n1", user="ops")
        self.calls = 0

    def run(self, argv, *, stdin=b"", timeout=60.0, dialog=None):
        self.calls += 1
        assert argv[:2] == ["sudo", "-n"]
        # plugins/sudoers/sudoers.c: sudo_warnx("%s", U_("sorry, you must have a tty to run
        # sudo")), after the program name; the policy fails, sudo exits 1.
        return Completed(1, b"", b"sudo: sorry, you must have a tty to run sudo\n")


def test_sudo_requiretty_is_named_with_the_sudoers_line_to_change():
    conn = TtyConnection()
    agent = Agent(conn, Sudo(enabled=True), "n1")  # type: ignore[arg-type]
    with pytest.raises(NodeError) as raised:
        agent.call({"op": "facts"})
    message = str(raised.value)
    assert "`Defaults:ops !requiretty`" in message
    assert "visudo -f /etc/sudoers.d/spctl" in message
    assert conn.calls == 1  # no install attempt, no retry


def test_k3s_config_drop_ins_replace_keys_and_plus_keys_append():
    # k3s pkg/configfilearg/parser.go readConfigFile: the first file's key order, a later
    # file replacing a value, "key+" appending; drop-ins in lexical order, *.yaml and *.yml.
    d = "/etc/rancher/k3s/config.yaml.d"
    facts = NodeFacts.from_agent(
        {
            "hostname": "n1",
            "units": {"k3s": _k3s("/usr/local/bin/k3s server --kubelet-arg=v=2")},
            "files": {
                "/etc/rancher/k3s/config.yaml": "kubelet-arg: [max-pods=110]\nnode-label: [a=1]\n",
                f"{d}/10.yaml": "kubelet-arg+: [image-gc-high-threshold=80]\nnode-label: [b=2]\n",
                f"{d}/20.YML": "kubelet-arg+: eviction-hard=memory.available<5%\nwith-node-id: true\n",
            },
            "globs": {f"{d}/*": [f"{d}/20.YML", f"{d}/10.yaml", f"{d}/notes.txt"]},
        }
    )
    k3s = profiles.PROFILES["k3s"]
    assert k3s._config_args(facts) == [  # type: ignore[attr-defined]
        "--kubelet-arg=max-pods=110",
        "--kubelet-arg=image-gc-high-threshold=80",
        "--kubelet-arg=eviction-hard=memory.available<5%",
        "--node-label=b=2",
        "--with-node-id=true",
    ]
    assert k3s._cli(facts) == ["--kubelet-arg=v=2"]  # type: ignore[attr-defined]


def test_fedora_healthz_follows_the_config_file_and_a_flag_over_it():
    def facts(args: str) -> NodeFacts:
        return NodeFacts.from_agent(
            {
                "units": {
                    "kubelet": {
                        "LoadState": "loaded",
                        "EnvironmentFiles": ["/etc/kubernetes/kubelet (ignore_errors=yes)"],
                        "cmdline": ["/usr/bin/kubelet", *args.split()],
                    }
                },
                "files": {
                    "/etc/kubernetes/kubelet": 'KUBELET_ARGS=""\n',
                    "/etc/kubernetes/kubelet.conf": "healthzPort: 10300\n",
                },
            }
        )

    fedora = profiles.PROFILES["fedora"]
    assert fedora.healthz_url(facts("--v=2")) == "http://127.0.0.1:10248/healthz"
    config = "--config=/etc/kubernetes/kubelet.conf"
    assert fedora.healthz_url(facts(config)) == "http://127.0.0.1:10300/healthz"
    assert fedora.healthz_url(facts(f"{config} --healthz-port=10400")) == (
        "http://127.0.0.1:10400/healthz"
    )


def test_the_agent_reads_systemctl_show_for_several_units(tmp_path, monkeypatch):
    from spctl_agent.protocol.systemd_show import UNIT_PROPERTIES
    from spctl_agent.system.systemd import Systemd

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "show.txt").write_text(SHOW)
    args = tmp_path / "args.txt"
    systemctl = bin_dir / "systemctl"
    systemctl.write_text(f'#!/bin/sh\necho "$@" > {args}\ncat {tmp_path / "show.txt"}\n')
    systemctl.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    shown = Systemd().show(["kubelet", "k3s"])
    assert args.read_text().split() == [
        "show",
        "--no-pager",
        "-p",
        UNIT_PROPERTIES,
        "kubelet.service",
        "k3s.service",
    ]
    assert "ExecStart" in UNIT_PROPERTIES.split(",") and "Environment" in UNIT_PROPERTIES.split(",")
    assert len(shown["kubelet"]["EnvironmentFiles"]) == 3
    assert shown["k3s"]["ExecStart"][0].startswith("{ path=/usr/local/bin/k3s ;")
    assert shown["k3s"]["cmdline"] is None  # MainPID=0: not running


def test_probes_run_in_the_first_call_only_and_its_readiness_is_kept():
    """Follow-up calls (a custom config file, then its data dir) do not run the pods'
    readiness probes again; the first answer's READY is the one returned."""
    files = {
        "/etc/systemd/system/k3s.service.env": "K3S_CONFIG_FILE=/opt/k3s.yaml\n",
        "/opt/k3s.yaml": "data-dir: /srv/k3s\n",
    }
    agent = FakeAgent(files, {"k3s": _k3s("/usr/local/bin/k3s server")})
    running = {"pod": "web-edge", "uid": "u1", "phase": "Running", "ready": True}
    answers = iter([False, True, True])  # READY as each call's probes would say it
    real_call = agent.call

    def call(request):
        answer = real_call(request)
        answer["runtime"] = {"pods": [{**running, "ready": next(answers)}]}
        return answer

    agent.call = call  # type: ignore[method-assign]
    probes = {"web": {"web": {"readiness": {"tcpSocket": {"port": 80}}}}}
    facts: NodeFacts = read_facts(agent, NODE, ["web"], probes)  # type: ignore[arg-type]
    assert len(agent.requests) == 3
    assert [("probes" in r) for r in agent.requests] == [True, False, False]
    assert [p.ready for p in facts.pods] == [False]
    assert profiles.detect(facts).manifest_dir(facts) == "/srv/k3s/agent/pod-manifests"


def test_a_host_network_pod_is_probed_once_in_the_last_call_at_its_node_ip():
    """k3s's node-ip is in its config file, which the first call brings back: the probes of
    a hostNetwork pod run once, in one more call, with it (never first at another address).
    A pod on the pod network is probed in the first call; a node whose config names no
    node-ip probes its hostNetwork pods once, the agent finding the kubelet's address."""
    files = {"/etc/rancher/k3s/config.yaml.d/50-net.yaml": "node-ip: [10.0.0.5, fd00::5]\n"}
    running = {"pod": "web-n1", "uid": "u1", "phase": "Running"}
    host_network = {"web": {"hostNetwork": True, "containers": []}}
    for name, given, probes, probed_at in (
        ("host network", files, host_network, [None, "10.0.0.5"]),
        ("pod network", files, {"web": {"hostNetwork": False, "containers": []}}, [False]),
        ("no node-ip", {}, host_network, [None, False]),
    ):
        agent = FakeAgent(given, {"k3s": _k3s("/usr/local/bin/k3s server")})
        real_call = agent.call

        def call(request, real_call=real_call):
            answer = real_call(request)
            ready = "probes" in request and request.get("node_ip") == "10.0.0.5"
            answer["runtime"] = {"pods": [{**running, "ready": ready}]}
            return answer

        agent.call = call  # type: ignore[method-assign]
        facts: NodeFacts = read_facts(agent, NODE, ["web"], probes)  # type: ignore[arg-type]
        # Per call: None without probes, else the node_ip they ran with (False: none given).
        seen = [r.get("node_ip", False) if "probes" in r else None for r in agent.requests]
        assert seen == probed_at, name
        assert [p.ready for p in facts.pods] == [name == "host network"], name
