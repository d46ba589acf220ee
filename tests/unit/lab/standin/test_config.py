"""The stand-in's settings (standin/config.py): the real kubelet's defaults, the config
file and its drop-ins under the flags, the lab's knobs, the release and its feature gates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from spctl_lab.standin.config import (
    ConfigError,
    build_settings,
    parse_release,
    resolve_feature_gates,
)
from spctl_lab.standin.flags import parse_flags
from spctl_lab.standin.main import main

from tests.fakes.standin import NODE


def kubelet_config(tmp_path: Path, **fields: Any) -> str:
    doc = {"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration", **fields}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def test_defaults_are_the_real_kubelets() -> None:
    settings = build_settings({}, {}, "My-Node1")
    assert settings.node_name == "my-node1"  # lower-cased, as the kubelet does
    assert (settings.file_check_frequency, settings.http_check_frequency) == (20.0, 20.0)
    assert (settings.healthz_bind_address, settings.healthz_port) == ("127.0.0.1", 10248)
    assert settings.read_only_port == 0
    assert settings.root_dir == "/var/lib/kubelet"
    assert settings.backoff_base == 10.0
    assert build_settings({"hostname-override": "Edge-7"}, {}, "ignored").node_name == "edge-7"


def test_flag_overrides_config_field(tmp_path) -> None:
    config = kubelet_config(
        tmp_path,
        staticPodPath="/etc/kubernetes/manifests",
        healthzPort=10248,
        fileCheckFrequency="40s",
        readOnlyPort=10255,
        staticPodURL="http://cfg/",
    )
    flags = parse_flags(
        [
            f"--config={config}",
            "--pod-manifest-path=/etc/kubelet.d",
            "--healthz-port=20248",
            "--file-check-frequency=5s",
        ]
    )
    settings = build_settings(flags, {}, NODE)
    assert settings.manifest_path == "/etc/kubelet.d"
    assert settings.healthz_port == 20248
    assert settings.file_check_frequency == 5.0
    assert settings.read_only_port == 10255  # no flag: the config field holds
    assert settings.manifest_url == "http://cfg/"


@pytest.mark.parametrize(
    "config_fields, flags, expected",
    [
        ({}, [], 1.0),  # the lab's env var replaces the default ...
        ({"fileCheckFrequency": "7s"}, [], 7.0),  # ... but not a config field ...
        ({"fileCheckFrequency": "7s"}, ["--file-check-frequency=3s"], 3.0),  # ... nor a flag
    ],
)
def test_lab_env_var_replaces_only_the_default(tmp_path, config_fields, flags, expected) -> None:
    config = kubelet_config(tmp_path, **config_fields)
    parsed = parse_flags([f"--config={config}", *flags])
    env = {"KUBELET_STANDIN_FILE_CHECK_FREQUENCY": "1s"}
    assert build_settings(parsed, env, NODE).file_check_frequency == expected


def test_backoff_base_env_var(tmp_path) -> None:
    assert build_settings({}, {"KUBELET_STANDIN_BACKOFF_BASE": "0.5"}, NODE).backoff_base == 0.5


def test_config_paths_are_relative_to_the_config_file_and_headers_are_lists(tmp_path) -> None:
    config = kubelet_config(
        tmp_path, staticPodPath="manifests", staticPodURLHeader={"X-Token": ["a", "b"]}
    )
    settings = build_settings({"config": config}, {}, NODE)
    assert settings.manifest_path == str(tmp_path / "manifests")
    assert settings.manifest_url_header == {"X-Token": ["a", "b"]}
    flags = parse_flags([f"--config={config}", "--manifest-url-header=Y:c"])
    assert build_settings(flags, {}, NODE).manifest_url_header == {"Y": ["c"]}


def test_missing_config_file_is_fatal(tmp_path, capsys) -> None:
    assert main([f"--config={tmp_path / 'nope.yaml'}"], env={}) == 1
    err = capsys.readouterr().err
    assert '"command failed"' in err and "nope.yaml" in err and "No such file" in err


@pytest.mark.parametrize(
    "text",
    [
        "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n",
        "kind: KubeletConfiguration\nstaticPodPath: /m\n",  # no apiVersion
        "- just\n- a list\n",
        "staticPodPath: [unclosed\n",
    ],
)
def test_config_that_is_not_a_kubelet_configuration_is_fatal(tmp_path, text, capsys) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="failed to load kubelet config file"):
        build_settings({"config": str(path)}, {}, NODE)
    assert main([f"--config={path}"], env={}) == 1


def test_config_field_of_the_wrong_type_is_fatal(tmp_path) -> None:
    config = kubelet_config(tmp_path, fileCheckFrequency=20)  # a number, not "20s"
    with pytest.raises(ConfigError, match="fileCheckFrequency"):
        build_settings({"config": config}, {}, NODE)


def test_unknown_config_field_warns_and_continues(tmp_path, capsys) -> None:
    config = kubelet_config(
        tmp_path, staticPodPath="/m", clusterDNS=["10.96.0.10"], staticPodDir="/typo"
    )
    settings = build_settings({"config": config}, {}, NODE)
    assert settings.manifest_path == "/m"
    err = capsys.readouterr().err
    assert err.startswith("W") and 'field="staticPodDir"' in err
    assert "clusterDNS" not in err  # a real field, merely unused


def test_missing_kubeconfig_files_stop_the_kubelet(tmp_path) -> None:
    kubeconfig, bootstrap = str(tmp_path / "kubelet.conf"), str(tmp_path / "bootstrap.conf")
    flags = {"kubeconfig": kubeconfig, "bootstrap-kubeconfig": bootstrap}
    with pytest.raises(ConfigError, match="unable to load bootstrap kubeconfig: stat "):
        build_settings(flags, {}, "node")
    with pytest.raises(ConfigError, match="invalid kubeconfig: stat "):
        build_settings({"kubeconfig": kubeconfig}, {}, "node")
    Path(bootstrap).write_text("apiVersion: v1\nkind: Config\n")
    assert build_settings(flags, {}, "node").node_name == "node"
    Path(bootstrap).unlink()
    Path(kubeconfig).write_text("apiVersion: v1\nkind: Config\n")
    assert build_settings(flags, {}, "node").node_name == "node"
    assert build_settings({}, {}, "node").node_name == "node"  # standalone


def test_config_dir_dropins_merge_over_the_config_in_lexical_order(tmp_path) -> None:
    head = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
    (tmp_path / "kubelet.conf").write_text(head + "staticPodPath: /etc/a\nhealthzPort: 1\n")
    drop = tmp_path / "kubelet.conf.d"
    drop.mkdir()
    (drop / "20-b.conf").write_text(head + "staticPodPath: /etc/b\n")
    (drop / "10-c.conf").write_text(head + "staticPodPath: /etc/c\nhealthzPort: 2\n")
    (drop / "30-ignored.yaml").write_text(head + "staticPodPath: /etc/ignored\n")
    flags = {"config": str(tmp_path / "kubelet.conf"), "config-dir": str(drop)}
    settings = build_settings(flags, {}, "node")
    assert (settings.manifest_path, settings.healthz_port) == ("/etc/b", 2)


def test_release_knob_and_version(capsys) -> None:
    assert parse_release(None) == (1, 34)
    assert parse_release("v1.31.4") == (1, 31)
    assert parse_release("1.29") == (1, 29)
    for bad in ("1.28", "1.35", "2.0", "latest", "1.31.x"):
        with pytest.raises(ConfigError, match="models releases 1.29 to 1.34"):
            parse_release(bad)
    assert main(["--version"], env={"KUBELET_STANDIN_RELEASE": "1.31"}) == 0
    assert capsys.readouterr().out == "Kubernetes v1.31.0-spctl-lab-standin\n"
    assert main(["--version"], env={}) == 0
    assert capsys.readouterr().out == "Kubernetes v1.34.0-spctl-lab-standin\n"


@pytest.mark.parametrize(
    "release, config_gates, flag, expected",
    [
        ("1.29", None, None, False),  # before the gate existed: C-like names only
        ("1.31", None, None, False),  # alpha, off by default
        ("1.31", {"RelaxedEnvironmentVariableValidation": True}, None, True),
        ("1.32", None, None, True),  # beta, on by default
        ("1.33", {"RelaxedEnvironmentVariableValidation": False}, None, False),
        # the flag replaces the config's map (cliflag.MapStringBool), so the default is back
        ("1.33", {"RelaxedEnvironmentVariableValidation": False}, "SomeOtherGate=true", True),
        ("1.33", None, "RelaxedEnvironmentVariableValidation=false", False),
        ("1.34", {"SomeOtherGate": False}, None, True),  # gates not modelled are left alone
    ],
)
def test_feature_gate_follows_release_config_and_flags(
    tmp_path, release, config_gates, flag, expected
) -> None:
    fields = {"featureGates": config_gates} if config_gates else {}
    argv = [f"--config={kubelet_config(tmp_path, **fields)}"]
    argv += [f"--feature-gates={flag}"] if flag else []
    settings = build_settings(parse_flags(argv), {"KUBELET_STANDIN_RELEASE": release}, NODE)
    assert resolve_feature_gates(settings) == {"RelaxedEnvironmentVariableValidation": expected}


@pytest.mark.parametrize(
    "release, flag, message",
    [
        ("1.34", "RelaxedEnvironmentVariableValidation=false", "feature is locked to true"),
        ("1.29", "RelaxedEnvironmentVariableValidation=true", "unrecognized feature gate"),
    ],
)
def test_a_gate_the_release_refuses_stops_the_kubelet(tmp_path, capsys, release, flag, message):
    argv = [f"--config={kubelet_config(tmp_path)}", f"--feature-gates={flag}"]
    assert main(argv, env={"KUBELET_STANDIN_RELEASE": release}) == 1
    assert message in capsys.readouterr().err


def test_zero_check_frequencies_are_defaulted_in_the_config_file(tmp_path) -> None:
    """kubeadm writes fileCheckFrequency: 0s; v1beta1 defaults.go makes it 20 s (and the
    lab's knob stands in for that default)."""
    config = kubelet_config(tmp_path, fileCheckFrequency="0s", httpCheckFrequency="0s")
    settings = build_settings(parse_flags([f"--config={config}"]), {}, NODE)
    assert (settings.file_check_frequency, settings.http_check_frequency) == (20.0, 20.0)
    knob = {"KUBELET_STANDIN_FILE_CHECK_FREQUENCY": "1s"}
    assert (
        build_settings(parse_flags([f"--config={config}"]), knob, NODE).file_check_frequency == 1.0
    )
    # A flag is applied after the defaulting: zero stays zero, and file.go's ticker panics.
    flags = parse_flags(["--pod-manifest-path=/etc/kubelet.d", "--file-check-frequency=0s"])
    assert build_settings(flags, {}, NODE).file_check_frequency == 0.0


def test_a_zero_file_check_frequency_flag_crashes_the_kubelet(tmp_path, capsys) -> None:
    argv = [f"--pod-manifest-path={tmp_path}", "--file-check-frequency=0s", "--healthz-port=0"]
    assert main(argv, {}) == 2
    assert "panic: non-positive interval for NewTicker" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("config_fields", "argv", "expected"),
    [
        ({}, [], "text"),
        ({"logging": {"format": "json"}}, [], "json"),
        ({"logging": {"format": "json"}}, ["--logging-format=text"], "text"),
        ({}, ["--logging-format=json"], "json"),
        ({"logging": {"verbosity": 2}}, [], "text"),
    ],
)
def test_logging_format(tmp_path, config_fields, argv, expected) -> None:
    config = kubelet_config(tmp_path, **config_fields)
    flags = parse_flags([f"--config={config}", *argv])
    assert build_settings(flags, {}, NODE).logging_format == expected


def test_an_unknown_logging_format_stops_the_kubelet(tmp_path) -> None:
    # cmd/kubelet/app/server.go and component-base/logs/api/v1/options.go Validate.
    with pytest.raises(ConfigError) as caught:
        build_settings(parse_flags(["--logging-format=xml"]), {}, NODE)
    assert str(caught.value) == (
        'initialize logging: logging.format: Invalid value: "xml": Unsupported log format'
    )
