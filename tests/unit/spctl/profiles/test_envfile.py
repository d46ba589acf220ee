import pytest

from spctl.profiles.envfile import flag_value, get_var, parse_env, set_flag, set_var

SEED = 'KUBELET_ARGS="--cluster-dns=10.254.0.10 --cluster-domain=kube.local"\n'


def test_get_var_unquotes_and_last_assignment_wins():
    assert get_var(SEED, "KUBELET_ARGS") == "--cluster-dns=10.254.0.10 --cluster-domain=kube.local"
    assert get_var("A=1\nA='2'\n", "A") == "2"
    assert get_var("# A=1\n", "A") is None


def test_set_var_keeps_other_lines_and_comments():
    text = '# comment\nKUBELET_ADDRESS="--address=127.0.0.1"\n' + SEED
    out = set_var(text, "KUBELET_ARGS", "--x=1")
    assert out.splitlines() == [
        "# comment",
        'KUBELET_ADDRESS="--address=127.0.0.1"',
        'KUBELET_ARGS="--x=1"',
    ]


def test_set_var_appends_when_absent():
    assert set_var("", "KUBELET_EXTRA_ARGS", "--a=b") == 'KUBELET_EXTRA_ARGS="--a=b"\n'


@pytest.mark.parametrize(
    "args, value, expected",
    [
        (
            "--cluster-dns=10.254.0.10 --cluster-domain=kube.local",
            "/etc/kubelet.d/",
            "--cluster-dns=10.254.0.10 --cluster-domain=kube.local --pod-manifest-path=/etc/kubelet.d/",
        ),
        ("--pod-manifest-path=/old --v=2", "/new", "--pod-manifest-path=/new --v=2"),
        (
            "--pod-manifest-path /old --v=2 --pod-manifest-path=/older",
            "/new",
            "--pod-manifest-path=/new --v=2",
        ),
        ("--v=2 --pod-manifest-path=/old", None, "--v=2"),
        ("", "/d", "--pod-manifest-path=/d"),
    ],
)
def test_set_flag_replaces_every_occurrence_once(args, value, expected):
    assert set_flag(args, "--pod-manifest-path", value) == expected


def test_flag_value_both_spellings():
    assert flag_value("--a=1 --pod-manifest-path /x", "--pod-manifest-path") == "/x"
    assert flag_value(["kubelet", "--hostname-override=N1"], "--hostname-override") == "N1"
    assert flag_value("--a=1", "--pod-manifest-path") is None


def test_parse_env_reads_every_assignment_as_systemd_does():
    # k3s's install.sh writes single-quoted values; comments start with # or ;
    text = "# written by install.sh\nK3S_TOKEN='K10x::server:y'\n; old\nK3S_NODE_NAME=\"a\"\nK3S_NODE_NAME='b'\n"
    assert parse_env(text) == {"K3S_TOKEN": "K10x::server:y", "K3S_NODE_NAME": "b"}
    assert parse_env("not an assignment\n") == {}
