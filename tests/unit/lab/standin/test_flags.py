"""The kubelet's command line by pflag's rules (standin/flags.py): the flags a real
node passes, the ones it refuses, Go's value syntax."""

from __future__ import annotations

import pytest
from spctl_lab.standin.flags import FlagError, parse_flags, parse_go_duration
from spctl_lab.standin.main import main


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--no-such-flag=1"], "Error: unknown flag: --no-such-flag"),
        (["--network-plugin=cni"], "Error: unknown flag: --network-plugin"),  # removed in 1.24
        (["--pod-manifest-path=/etc/kubelet.d", "--bogus"], "Error: unknown flag: --bogus"),
        (["/etc/kubelet.d"], 'Error: unknown command "/etc/kubelet.d" for "kubelet"'),
        (["--fail-swap-on", "false"], 'Error: unknown command "false"'),  # pflag booleans
        (["--pod-manifest-path"], "Error: flag needs an argument: --pod-manifest-path"),
        (["--healthz-port=ten"], 'Error: invalid argument "ten" for "--healthz-port" flag'),
        (["--fail-swap-on=maybe"], 'Error: invalid argument "maybe" for "--fail-swap-on" flag'),
        (["--file-check-frequency=20"], "time: missing unit in duration"),
        (["-x"], "Error: unknown shorthand flag: 'x' in -x"),
    ],
)
def test_refused_command_lines_exit_1_with_pflags_message(argv, message, capsys) -> None:
    assert main(argv, env={}) == 1
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--pod-manifest-path=/etc/kubelet.d/"], {"pod-manifest-path": "/etc/kubelet.d/"}),
        (["--pod-manifest-path", "/etc/kubelet.d/"], {"pod-manifest-path": "/etc/kubelet.d/"}),
        (["--pod_manifest_path=/m"], {"pod-manifest-path": "/m"}),  # the kubelet normalizes _
        (["--fail-swap-on"], {"fail-swap-on": True}),
        (["--fail-swap-on=false"], {"fail-swap-on": False}),
        (
            ["--register-node=true", "--fail-swap-on=1"],
            {"register-node": True, "fail-swap-on": True},
        ),
        (["--healthz-port", "20248"], {"healthz-port": 20248}),
        (["--v=2", "--max-pods=110"], {"v": 2, "max-pods": 110}),
        (["--file-check-frequency=1m30s"], {"file-check-frequency": 90.0}),
        (
            ["--cluster-dns=10.254.0.10", "--cluster-domain=kube.local"],
            {"cluster-dns": "10.254.0.10", "cluster-domain": "kube.local"},
        ),
        (
            ["--manifest-url-header=a:hello,b:again", "--manifest-url-header", "b:beautiful"],
            {"manifest-url-header": {"a": ["hello"], "b": ["again", "beautiful"]}},
        ),
        (["--pod-manifest-path=/a", "--pod-manifest-path=/b"], {"pod-manifest-path": "/b"}),
    ],
)
def test_accepted_command_lines(argv, expected) -> None:
    assert parse_flags(argv) == expected


def test_every_flag_a_real_node_passes_is_accepted() -> None:
    # Fedora's kubelet env files, kubeadm's drop-in and flags file, as the lab lays them out.
    command_line = (
        "--v=0 --address=127.0.0.1 --hostname-override=my-node1 "
        "--cluster-dns=10.254.0.10 --cluster-domain=kube.local --pod-manifest-path=/etc/kubelet.d/ "
        "--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf "
        "--kubeconfig=/etc/kubernetes/kubelet.conf --config=/var/lib/kubelet/config.yaml "
        "--container-runtime-endpoint=unix:///var/run/cri-dockerd.sock "
        "--pod-infra-container-image=registry.k8s.io/pause:3.10 --node-ip=10.0.0.1 "
        "--node-labels=a=b --fail-swap-on=false --cgroup-driver=cgroupfs --register-node "
        "--max-pods=110 --resolv-conf=/etc/resolv.conf --cert-dir=/var/lib/kubelet/pki "
        "--runtime-request-timeout=2m --rotate-certificates --port=10250"
    )
    argv = command_line.split()
    flags = parse_flags(argv)
    assert flags["pod-manifest-path"] == "/etc/kubelet.d/"
    assert flags["runtime-request-timeout"] == 120.0
    assert len(flags) == len(argv)


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("20s", 20.0),
        ("1m30s", 90.0),
        ("500ms", 0.5),
        ("1h", 3600.0),
        ("0", 0.0),
        ("1.5s", 1.5),
        ("2h45m", 9900.0),
        ("100us", 0.0001),
        ("-1s", -1.0),
    ],
)
def test_go_durations(text, seconds) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["20", "", "s", "1x", "1m30", "twenty seconds"])
def test_bad_go_durations(text) -> None:
    with pytest.raises(ValueError, match="time: "):
        parse_go_duration(text)


@pytest.mark.parametrize(
    "flag", ["--logtostderr=true", "--alsologtostderr", "--log-dir=/var/log", "--log-file=/x"]
)
def test_klog_flags_removed_in_1_26_are_unknown(flag) -> None:
    with pytest.raises(FlagError, match=f"unknown flag: {flag.split('=')[0]}"):
        parse_flags([flag])


def test_feature_gates_flag_syntax() -> None:
    with pytest.raises(FlagError, match="missing bool value for A"):
        parse_flags(["--feature-gates=A"])
    with pytest.raises(FlagError, match="invalid value of A=maybe"):
        parse_flags(["--feature-gates=A=maybe"])
    assert parse_flags(["--feature-gates=A=true,B=0", "--feature-gates=C=t"]) == {
        "feature-gates": {"A": True, "B": False, "C": True}
    }
