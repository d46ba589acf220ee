"""The lab's kubelet stand-in (lab/kubelet_standin.py), without Docker: its command line and
configuration, the kubelet's file rules, names and UIDs, the restart back-off, pod phases."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

STANDIN = Path(__file__).resolve().parents[2] / "lab" / "kubelet_standin.py"
_spec = importlib.util.spec_from_file_location("kubelet_standin", STANDIN)
assert _spec is not None and _spec.loader is not None
ks = importlib.util.module_from_spec(_spec)
sys.modules["kubelet_standin"] = ks  # dataclasses look their module up while the file loads
_spec.loader.exec_module(ks)

NODE = "my-node1"
SEED: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "static-web", "labels": {"role": "myrole"}},
    "spec": {
        "containers": [
            {
                "name": "web",
                "image": "spctl-lab/pod:1.0",
                "ports": [{"name": "web", "containerPort": 80, "protocol": "TCP"}],
            }
        ]
    },
}


def seed(**spec: Any) -> dict[str, Any]:
    """The seed walkthrough's pod, with spec fields added or replaced."""
    pod = json.loads(json.dumps(SEED))
    pod["spec"].update(spec)
    return pod


def write(directory: Path, name: str, pod: Any) -> Path:
    path = directory / name
    path.write_text(pod if isinstance(pod, str) else yaml.safe_dump(pod))
    return path


# -- command line -------------------------------------------------------------------------


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
    assert ks.main(argv, env={}) == 1
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--pod-manifest-path=/etc/kubelet.d/"], {"pod-manifest-path": "/etc/kubelet.d/"}),
        (["--pod-manifest-path", "/etc/kubelet.d/"], {"pod-manifest-path": "/etc/kubelet.d/"}),
        (["--pod_manifest_path=/m"], {"pod-manifest-path": "/m"}),  # the kubelet normalizes _
        (["--fail-swap-on"], {"fail-swap-on": True}),
        (["--fail-swap-on=false"], {"fail-swap-on": False}),
        (["--register-node=true", "--fail-swap-on=1"], {"register-node": True, "fail-swap-on": True}),
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
    assert ks.parse_flags(argv) == expected


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
    flags = ks.parse_flags(argv)
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
    assert ks.parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["20", "", "s", "1x", "1m30", "twenty seconds"])
def test_bad_go_durations(text) -> None:
    with pytest.raises(ValueError, match="time: "):
        ks.parse_go_duration(text)


# -- configuration ------------------------------------------------------------------------


def kubelet_config(tmp_path: Path, **fields: Any) -> str:
    doc = {"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration", **fields}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def test_defaults_are_the_real_kubelets() -> None:
    settings = ks.build_settings({}, {}, "My-Node1")
    assert settings.node_name == "my-node1"  # lower-cased, as the kubelet does
    assert (settings.file_check_frequency, settings.http_check_frequency) == (20.0, 20.0)
    assert (settings.healthz_bind_address, settings.healthz_port) == ("127.0.0.1", 10248)
    assert settings.read_only_port == 0
    assert settings.root_dir == "/var/lib/kubelet"
    assert settings.backoff_base == 10.0
    assert ks.build_settings({"hostname-override": "Edge-7"}, {}, "ignored").node_name == "edge-7"


def test_flag_overrides_config_field(tmp_path) -> None:
    config = kubelet_config(
        tmp_path,
        staticPodPath="/etc/kubernetes/manifests",
        healthzPort=10248,
        fileCheckFrequency="40s",
        readOnlyPort=10255,
        staticPodURL="http://cfg/",
    )
    flags = ks.parse_flags(
        [
            f"--config={config}",
            "--pod-manifest-path=/etc/kubelet.d",
            "--healthz-port=20248",
            "--file-check-frequency=5s",
        ]
    )
    settings = ks.build_settings(flags, {}, NODE)
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
    parsed = ks.parse_flags([f"--config={config}", *flags])
    env = {"KUBELET_STANDIN_FILE_CHECK_FREQUENCY": "1s"}
    assert ks.build_settings(parsed, env, NODE).file_check_frequency == expected


def test_backoff_base_env_var(tmp_path) -> None:
    assert ks.build_settings({}, {"KUBELET_STANDIN_BACKOFF_BASE": "0.5"}, NODE).backoff_base == 0.5


def test_config_paths_are_relative_to_the_config_file_and_headers_are_lists(tmp_path) -> None:
    config = kubelet_config(
        tmp_path, staticPodPath="manifests", staticPodURLHeader={"X-Token": ["a", "b"]}
    )
    settings = ks.build_settings({"config": config}, {}, NODE)
    assert settings.manifest_path == str(tmp_path / "manifests")
    assert settings.manifest_url_header == {"X-Token": ["a", "b"]}
    flags = ks.parse_flags([f"--config={config}", "--manifest-url-header=Y:c"])
    assert ks.build_settings(flags, {}, NODE).manifest_url_header == {"Y": ["c"]}


def test_missing_config_file_is_fatal(tmp_path, capsys) -> None:
    assert ks.main([f"--config={tmp_path / 'nope.yaml'}"], env={}) == 1
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
    with pytest.raises(ks.ConfigError, match="failed to load kubelet config file"):
        ks.build_settings({"config": str(path)}, {}, NODE)
    assert ks.main([f"--config={path}"], env={}) == 1


def test_config_field_of_the_wrong_type_is_fatal(tmp_path) -> None:
    config = kubelet_config(tmp_path, fileCheckFrequency=20)  # a number, not "20s"
    with pytest.raises(ks.ConfigError, match="fileCheckFrequency"):
        ks.build_settings({"config": config}, {}, NODE)


def test_unknown_config_field_warns_and_continues(tmp_path, capsys) -> None:
    config = kubelet_config(
        tmp_path, staticPodPath="/m", clusterDNS=["10.96.0.10"], staticPodDir="/typo"
    )
    settings = ks.build_settings({"config": config}, {}, NODE)
    assert settings.manifest_path == "/m"
    err = capsys.readouterr().err
    assert err.startswith("W") and 'field="staticPodDir"' in err
    assert "clusterDNS" not in err  # a real field, merely unused


# -- the file rules -----------------------------------------------------------------------


def logged_errors(stderr: str) -> list[str]:
    """The err="..." values of the log lines, unquoted."""
    return [json.loads(value) for value in re.findall(r'err=("(?:[^"\\]|\\.)*")', stderr)]


def listed(directory: Path) -> dict[str, str]:
    """{pod name: file name} of what a fresh re-list of `directory` would run."""
    pods = ks.FileSource(str(directory), NODE).relist()
    return {pod.name: Path(pod.origin).name for pod in pods}


def test_which_files_count(tmp_path, capsys) -> None:
    files = {
        "web.yaml": "a",
        "web.yaml.bak": "b",
        "web.yaml~": "c",
        "4913": "d",
        "web.json": "e",
        ".web.yaml.swp": "f",
    }
    for name, pod_name in files.items():
        pod = seed()
        pod["metadata"]["name"] = pod_name  # distinct pods: no duplicate rule involved
        write(tmp_path, name, pod if name != "web.json" else json.dumps(pod))
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "nested.yaml", seed())
    pods = listed(tmp_path)
    assert sorted(pods.values()) == ["4913", "web.json", "web.yaml", "web.yaml.bak", "web.yaml~"]
    assert "not recursing into manifest path" in capsys.readouterr().err


def test_file_over_10_mib_is_refused(tmp_path, capsys) -> None:
    big = yaml.safe_dump(seed()) + "#" * (10 << 20) + "\n"
    write(tmp_path, "big.yaml", big)
    assert listed(tmp_path) == {}
    err = capsys.readouterr().err
    assert '"Could not process manifest file"' in err and "larger than 10 MiB" in err


def test_missing_directory_gives_no_pods_and_is_logged(tmp_path, capsys) -> None:
    source = ks.FileSource(str(tmp_path / "kubelet.d"), NODE)
    assert source.relist() == []
    assert "path does not exist, ignoring" in capsys.readouterr().err
    (tmp_path / "kubelet.d").mkdir()
    write(tmp_path / "kubelet.d", "static-web.yaml", seed())
    assert [pod.name for pod in source.relist()] == [f"static-web-{NODE}"]


def test_a_path_to_one_file_is_that_pod(tmp_path) -> None:
    path = write(tmp_path, "only.yaml", seed())
    assert [pod.origin for pod in ks.FileSource(str(path), NODE).relist()] == [str(path)]


NOT_PODS = [
    ("", "couldn't parse as pod"),
    ("apiVersion: v1\nkind: Service\nmetadata: {name: x}\n", "couldn't parse as pod"),
    ("apiVersion: apps/v1\nkind: Pod\nmetadata: {name: x}\n", "couldn't parse as pod"),
    ("apiVersion: v1\nkind: Pod\nmetadata: {name: x\n", "couldn't parse as pod"),
    ("apiVersion: v1\nkind: Pod\nmetadata: {labels: {a: b}}\n", "name is needed for the pod"),
    (seed(containers=[]), "spec.containers: Required value"),
    (seed(containers=[{"name": "web"}]), "spec.containers[0].image: Required value"),
    (seed(containers=[{"image": "i"}]), "spec.containers[0].name: Required value"),
    (seed(containers=[{"name": "Web", "image": "i"}]), "spec.containers[0].name: Invalid value"),
    (
        seed(containers=[{"name": "a", "image": "i"}, {"name": "a", "image": "i"}]),
        'spec.containers[1].name: Duplicate value: "a"',
    ),
    (seed(restartPolicy="Sometimes"), 'spec.restartPolicy: Unsupported value: "Sometimes"'),
    (
        seed(containers=[{"name": "w", "image": "i", "env": [{"name": "N", "value": 1}]}]),
        "spec.containers[0].env[0].value",
    ),
    (
        seed(
            containers=[
                {"name": "w", "image": "i", "volumeMounts": [{"name": "v", "mountPath": "/v"}]}
            ]
        ),
        "spec.containers[0].volumeMounts[0].name: Not found",
    ),
]


@pytest.mark.parametrize("content, reason", NOT_PODS)
def test_files_that_are_not_valid_pods_are_refused_and_logged(
    tmp_path, capsys, content, reason
) -> None:
    write(tmp_path, "static-web.yaml", content)
    assert listed(tmp_path) == {}
    err = capsys.readouterr().err
    assert '"Could not process manifest file"' in err and "static-web.yaml" in err
    assert any(reason in message for message in logged_errors(err)), err


API_REFERENCES = [
    ({"serviceAccountName": "builder"}, "serviceaccounts"),
    ({"serviceAccountName": "default"}, "serviceaccounts"),
    ({"imagePullSecrets": [{"name": "regcred"}]}, "secrets"),
    ({"volumes": [{"name": "s", "secret": {"secretName": "tls"}}]}, "secrets"),
    ({"volumes": [{"name": "c", "configMap": {"name": "cfg"}}]}, "configmaps"),
    (
        {"volumes": [{"name": "p", "projected": {"sources": [{"secret": {"name": "s"}}]}}]},
        "secrets",
    ),
    (
        {"volumes": [{"name": "p", "projected": {"sources": [{"configMap": {"name": "c"}}]}}]},
        "configmaps",
    ),
    (
        {
            "volumes": [
                {"name": "p", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}}
            ]
        },
        "serviceaccounts (via projected volumes)",
    ),
    (
        {
            "volumes": [
                {"name": "p", "projected": {"sources": [{"clusterTrustBundle": {"path": "b"}}]}}
            ]
        },
        "clustertrustbundles",
    ),
    (
        {"volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "c"}}]},
        "persistentvolumeclaims",
    ),
    ({"resourceClaims": [{"name": "gpu"}]}, "resourceclaims"),
    (
        {
            "containers": [
                {
                    "name": "w",
                    "image": "i",
                    "env": [
                        {"name": "P", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
                    ],
                }
            ]
        },
        "secrets",
    ),
    (
        {
            "containers": [
                {
                    "name": "w",
                    "image": "i",
                    "env": [
                        {"name": "P", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}
                    ],
                }
            ]
        },
        "configmaps",
    ),
    (
        {"containers": [{"name": "w", "image": "i", "envFrom": [{"secretRef": {"name": "s"}}]}]},
        "secrets",
    ),
    (
        {"containers": [{"name": "w", "image": "i", "envFrom": [{"configMapRef": {"name": "c"}}]}]},
        "configmaps",
    ),
]


@pytest.mark.parametrize("spec, resource", API_REFERENCES)
def test_static_pods_may_not_reference_api_objects(tmp_path, capsys, spec, resource) -> None:
    write(tmp_path, "static-web.yaml", seed(**spec))
    assert listed(tmp_path) == {}
    assert f"static pods may not reference {resource}" in capsys.readouterr().err


def test_static_pods_may_not_have_ephemeral_containers(tmp_path, capsys) -> None:
    write(tmp_path, "static-web.yaml", seed(ephemeralContainers=[{"name": "debug", "image": "i"}]))
    assert listed(tmp_path) == {}
    assert "spec.ephemeralContainers: Forbidden" in capsys.readouterr().err


@pytest.mark.parametrize(
    "spec",
    [
        {"hostNetwork": True, "restartPolicy": "OnFailure", "terminationGracePeriodSeconds": 5},
        {
            "volumes": [
                {"name": "h", "hostPath": {"path": "/etc/kubernetes"}},
                {"name": "e", "emptyDir": {}},
                {"name": "d", "projected": {"sources": [{"downwardAPI": {"items": []}}]}},
            ]
        },
        {
            "containers": [
                {
                    "name": "w",
                    "image": "i",
                    "env": [
                        {"name": "A", "value": "1"},
                        {"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                    ],
                }
            ]
        },
    ],
)
def test_pods_without_api_references_run(tmp_path, spec) -> None:
    write(tmp_path, "static-web.yaml", seed(**spec))
    assert listed(tmp_path) == {f"static-web-{NODE}": "static-web.yaml"}


def test_duplicates_last_in_file_order_wins_silently_as_the_file_source_store_does(
    tmp_path, capsys
) -> None:
    write(tmp_path, "static-web.yaml", seed())
    stale = seed()
    stale["metadata"]["labels"] = {"role": "stale"}
    write(tmp_path, "static-web.bak.yaml", stale)  # sorts before static-web.yaml: loses
    stray = seed()
    stray["metadata"]["labels"] = {"role": "stray"}
    write(tmp_path, "static-web.yaml~", stray)  # sorts after it: wins
    pods = ks.FileSource(str(tmp_path), NODE).relist()
    assert [Path(pod.origin).name for pod in pods] == ["static-web.yaml~"]
    assert pods[0].manifest["metadata"]["labels"] == {"role": "stray"}
    assert "duplicate pod name" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "flag", ["--logtostderr=true", "--alsologtostderr", "--log-dir=/var/log", "--log-file=/x"]
)
def test_klog_flags_removed_in_1_26_are_unknown(flag) -> None:
    with pytest.raises(ks.FlagError, match=f"unknown flag: {flag.split('=')[0]}"):
        ks.parse_flags([flag])


def test_missing_kubeconfig_files_stop_the_kubelet(tmp_path) -> None:
    kubeconfig, bootstrap = str(tmp_path / "kubelet.conf"), str(tmp_path / "bootstrap.conf")
    flags = {"kubeconfig": kubeconfig, "bootstrap-kubeconfig": bootstrap}
    with pytest.raises(ks.ConfigError, match="unable to load bootstrap kubeconfig: stat "):
        ks.build_settings(flags, {}, "node")
    with pytest.raises(ks.ConfigError, match="invalid kubeconfig: stat "):
        ks.build_settings({"kubeconfig": kubeconfig}, {}, "node")
    Path(bootstrap).write_text("apiVersion: v1\nkind: Config\n")
    assert ks.build_settings(flags, {}, "node").node_name == "node"
    Path(bootstrap).unlink()
    Path(kubeconfig).write_text("apiVersion: v1\nkind: Config\n")
    assert ks.build_settings(flags, {}, "node").node_name == "node"
    assert ks.build_settings({}, {}, "node").node_name == "node"  # standalone


def test_config_dir_dropins_merge_over_the_config_in_lexical_order(tmp_path) -> None:
    head = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
    (tmp_path / "kubelet.conf").write_text(head + "staticPodPath: /etc/a\nhealthzPort: 1\n")
    drop = tmp_path / "kubelet.conf.d"
    drop.mkdir()
    (drop / "20-b.conf").write_text(head + "staticPodPath: /etc/b\n")
    (drop / "10-c.conf").write_text(head + "staticPodPath: /etc/c\nhealthzPort: 2\n")
    (drop / "30-ignored.yaml").write_text(head + "staticPodPath: /etc/ignored\n")
    flags = {"config": str(tmp_path / "kubelet.conf"), "config-dir": str(drop)}
    settings = ks.build_settings(flags, {}, "node")
    assert (settings.manifest_path, settings.healthz_port) == ("/etc/b", 2)


def test_other_namespace_is_not_a_duplicate(tmp_path) -> None:
    write(tmp_path, "a.yaml", seed())
    other = seed()
    other["metadata"]["namespace"] = "kube-system"
    write(tmp_path, "b.yaml", other)
    pods = ks.FileSource(str(tmp_path), NODE).relist()
    assert sorted(pod.full_name for pod in pods) == [
        f"default/static-web-{NODE}",
        f"kube-system/static-web-{NODE}",
    ]


def test_unparseable_file_drops_its_pod_on_relist_but_not_on_an_inotify_event(tmp_path) -> None:
    path = write(tmp_path, "static-web.yaml", seed())
    source = ks.FileSource(str(tmp_path), NODE)
    uid = source.relist()[0].uid
    path.write_text("apiVersion: v1\nkind: Po")  # caught half-written
    assert [pod.uid for pod in source.relist(after_event=True)] == [uid]
    assert source.relist() == []  # the periodic re-list kills it


# -- names and UIDs -----------------------------------------------------------------------


def pod_at(directory: Path, name: str, pod: Any, node: str = NODE):
    return ks.read_manifest_file(str(write(directory, name, pod)), node)


def test_names_namespace_and_annotations(tmp_path) -> None:
    pod = pod_at(tmp_path, "static-web.yaml", seed())
    assert (pod.name, pod.namespace, pod.restart_policy) == (
        "static-web-my-node1",
        "default",
        "Always",
    )
    assert len(pod.uid) == 32 and int(pod.uid, 16) >= 0
    annotations = pod.annotations("2025-01-01T00:00:00Z")
    assert annotations["kubernetes.io/config.hash"] == pod.uid
    assert annotations["kubernetes.io/config.source"] == "file"
    assert annotations["kubernetes.io/config.seen"] == "2025-01-01T00:00:00Z"
    assert ks.container_name("web", pod, 3) == f"k8s_web_static-web-my-node1_default_{pod.uid}_3"
    assert ks.container_name("POD", pod, 0) == f"k8s_POD_static-web-my-node1_default_{pod.uid}_0"


def test_uid_is_stable_for_same_content_at_same_path(tmp_path) -> None:
    first = pod_at(tmp_path, "static-web.yaml", seed()).uid
    assert pod_at(tmp_path, "static-web.yaml", seed()).uid == first
    # Formatting, key order and comments are not content.
    reordered = "# the web pod\n" + json.dumps(dict(reversed(list(seed().items()))), indent=4)
    assert pod_at(tmp_path, "static-web.yaml", reordered).uid == first


@pytest.mark.parametrize(
    "change",
    [
        lambda d: pod_at(d, "renamed.yaml", seed()),
        lambda d: pod_at(d, "static-web.yaml", seed(), node="my-node2"),
        lambda d: pod_at(d, "static-web.yaml", seed(restartPolicy="Always")),
        lambda d: pod_at(
            d, "static-web.yaml", seed(containers=[{"name": "web", "image": "nginx:2"}])
        ),
    ],
    ids=["renamed file", "other node", "explicit default", "new image"],
)
def test_uid_changes_with_path_node_or_content(tmp_path, change) -> None:
    original = pod_at(tmp_path, "static-web.yaml", seed()).uid
    assert change(tmp_path).uid != original


def test_url_pods_podlist_and_single_pod() -> None:
    body = yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "PodList",
            "items": [
                {"metadata": {"name": "a"}, "spec": SEED["spec"]},
                {"metadata": {"name": "b", "namespace": "kube-system"}, "spec": SEED["spec"]},
            ],
        }
    ).encode()
    pods = ks.pods_from_url_body(body, "http://cfg/pods", NODE)
    assert [(p.full_name, p.source) for p in pods] == [
        (f"default/a-{NODE}", "http"),
        (f"kube-system/b-{NODE}", "http"),
    ]
    single = ks.pods_from_url_body(json.dumps(seed()).encode(), "http://cfg/pods", NODE)
    assert [p.name for p in single] == [f"static-web-{NODE}"]


def test_one_bad_pod_rejects_the_whole_url_body() -> None:
    body = json.dumps(
        {
            "apiVersion": "v1",
            "kind": "PodList",
            "items": [
                {"metadata": {"name": "a"}, "spec": SEED["spec"]},
                {"metadata": {"name": "b"}, "spec": {**SEED["spec"], "serviceAccountName": "x"}},
            ],
        }
    ).encode()
    with pytest.raises(ks.ManifestError, match="serviceaccounts"):
        ks.pods_from_url_body(body, "http://cfg/pods", NODE)


def test_container_labels_are_cri_dockerds(tmp_path) -> None:
    pod = pod_at(tmp_path, "static-web.yaml", seed(terminationGracePeriodSeconds=5))
    sandbox = ks.sandbox_config(pod, pod.annotations("2025-01-01T00:00:00Z"))
    assert sandbox["Labels"] == {
        "role": "myrole",
        "io.kubernetes.pod.name": "static-web-my-node1",
        "io.kubernetes.pod.namespace": "default",
        "io.kubernetes.pod.uid": pod.uid,
        "io.kubernetes.container.name": "POD",
        "io.kubernetes.docker.type": "podsandbox",
        "annotation.kubernetes.io/config.hash": pod.uid,
        "annotation.kubernetes.io/config.source": "file",
        "annotation.kubernetes.io/config.seen": "2025-01-01T00:00:00Z",
    }
    assert sandbox["Image"] == "spctl-lab/pause:latest"
    assert sandbox["Entrypoint"] == ["/bin/sleep", "2147483647"]
    assert sandbox["HostConfig"]["NetworkMode"] == "bridge"
    app = ks.app_config(pod, pod.spec["containers"][0], "sandbox-id", 2, ["/h:/c:ro"])
    assert app["Labels"] == {
        "io.kubernetes.pod.name": "static-web-my-node1",
        "io.kubernetes.pod.namespace": "default",
        "io.kubernetes.pod.uid": pod.uid,
        "io.kubernetes.container.name": "web",
        "io.kubernetes.docker.type": "container",
        "io.kubernetes.sandbox.id": "sandbox-id",
        "annotation.io.kubernetes.container.restartCount": "2",
        "annotation.io.kubernetes.pod.terminationGracePeriod": "5",
    }
    assert app["HostConfig"]["NetworkMode"] == "container:sandbox-id"
    assert app["HostConfig"]["Binds"] == ["/h:/c:ro"]


def test_command_args_env_and_host_network(tmp_path) -> None:
    container = {
        "name": "job",
        "image": "i",
        "command": ["/bin/sh", "-c"],
        "args": ["echo hi"],
        "env": [{"name": "A", "value": "1"}],
        "workingDir": "/w",
        "securityContext": {"privileged": True},
    }
    pod = pod_at(tmp_path, "job.yaml", seed(hostNetwork=True, containers=[container]))
    app = ks.app_config(pod, container, "sb", 0, [])
    assert (app["Entrypoint"], app["Cmd"], app["Env"]) == (["/bin/sh", "-c"], ["echo hi"], ["A=1"])
    assert (app["WorkingDir"], app["HostConfig"]["Privileged"]) == ("/w", True)
    assert app["HostConfig"]["NetworkMode"] == "host"
    assert ks.sandbox_config(pod, {})["HostConfig"]["NetworkMode"] == "host"


def test_emptydir_lives_under_the_root_dir(tmp_path) -> None:
    container = {
        "name": "w",
        "image": "i",
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }
    pod = pod_at(
        tmp_path, "p.yaml", seed(containers=[container], volumes=[{"name": "data", "emptyDir": {}}])
    )
    binds = ks.prepare_binds(pod, container, str(tmp_path / "root"))
    source = tmp_path / "root" / "pods" / pod.uid / "volumes" / "emptydir" / "data"
    assert binds == [f"{source}:/data"] and source.is_dir()


# -- what runs ------------------------------------------------------------------------------


def api_entry(name: str, state: str = "running", **labels: str) -> dict[str, Any]:
    _, container, pod, namespace, uid, _attempt = name.split("_")
    base = {
        "io.kubernetes.pod.name": pod,
        "io.kubernetes.pod.namespace": namespace,
        "io.kubernetes.pod.uid": uid,
        "io.kubernetes.container.name": container,
    }
    return {
        "Id": name,
        "Names": ["/" + name],
        "State": state,
        "Created": 0,
        "Labels": {**base, **labels},
    }


def test_group_by_pod_sorts_attempts_and_ignores_others() -> None:
    entries = [
        api_entry("k8s_web_static-web-my-node1_default_u1_0", "exited"),
        api_entry("k8s_web_static-web-my-node1_default_u1_2"),
        api_entry("k8s_web_static-web-my-node1_default_u1_1", "exited"),
        api_entry("k8s_POD_static-web-my-node1_default_u1_0"),
        api_entry("k8s_web_static-web-my-node2_default_u2_0"),  # another node's pod
        {"Id": "x", "Names": ["/registry"], "State": "running", "Labels": {"app": "registry"}},
    ]
    pods = ks.group_by_pod(entries, NODE)
    assert list(pods) == ["u1"]
    assert [c.attempt for c in pods["u1"].containers["web"]] == [2, 1, 0]
    assert pods["u1"].sandbox is not None and pods["u1"].sandbox.alive


class CrashingContainer:
    """A container that dies `runtime` seconds after each start, on a simulated clock."""

    def __init__(self, backoff) -> None:
        self.backoff, self.now = backoff, 0.0

    def crash(self, times: int, runtime: float = 0.1) -> list[float]:
        """How long each restart waits."""
        waits = []
        for _ in range(times):
            exited = self.now + runtime
            wait = self.backoff.remaining("web", exited, exited)
            waits.append(round(wait, 6))
            self.now = exited + wait
            self.backoff.restarted("web", exited, self.now)
        return waits


def test_backoff_schedule_is_the_kubelets() -> None:
    waits = CrashingContainer(ks.RestartBackoff()).crash(9)
    assert waits == [0, 10, 20, 40, 80, 160, 300, 300, 300]


def test_backoff_base_for_tests() -> None:
    assert CrashingContainer(ks.RestartBackoff(initial=1)).crash(5) == [0, 1, 2, 4, 8]


@pytest.mark.parametrize("runtime, waits", [(599, [160, 300]), (601, [0, 10])])
def test_backoff_resets_after_ten_minutes_of_running(runtime, waits) -> None:
    container = CrashingContainer(ks.RestartBackoff())
    assert container.crash(5) == [0, 10, 20, 40, 80]
    assert container.crash(1, runtime=runtime) + container.crash(1) == waits


def test_backoff_counts_from_the_exit() -> None:
    backoff = ks.RestartBackoff()
    backoff.restarted("web", 0.0, 0.0)  # first restart, immediate: next waits 10 s
    assert backoff.remaining("web", exited_at=5.0, now=5.0) == 10.0
    assert backoff.remaining("web", exited_at=5.0, now=12.0) == 3.0
    assert backoff.remaining("web", exited_at=5.0, now=15.0) == 0.0


def state(kind: str, exit_code: int = 0, last: bool = False) -> dict[str, Any]:
    if kind == "terminated":
        return {"state": {"terminated": {"exitCode": exit_code}}, "lastState": {}}
    if kind == "crashloop":
        return {
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": exit_code}},
        }
    return {"state": {kind: {}}, "lastState": {}}


@pytest.mark.parametrize(
    "policy, statuses, phase",
    [
        ("Always", [state("running")], "Running"),
        ("Always", [state("waiting")], "Pending"),
        ("Always", [state("running"), state("waiting")], "Pending"),
        ("Always", [state("running"), state("crashloop", 1)], "Running"),
        ("Always", [state("terminated", 0)], "Running"),  # about to be restarted
        ("Never", [state("terminated", 0)], "Succeeded"),
        ("Never", [state("terminated", 0), state("terminated", 2)], "Failed"),
        ("OnFailure", [state("terminated", 0), state("terminated", 0)], "Succeeded"),
        ("OnFailure", [state("terminated", 1)], "Running"),  # will be restarted
        ("Never", [state("running"), state("terminated", 1)], "Running"),
        ("Always", [], "Pending"),
    ],
)
def test_pod_phase(policy, statuses, phase) -> None:
    assert ks.pod_phase(policy, statuses) == phase


def test_container_detail_from_inspect() -> None:
    info = {
        "State": {
            "Status": "exited",
            "ExitCode": 137,
            "StartedAt": "2025-01-01T00:00:00.5Z",
            "FinishedAt": "2025-01-01T00:00:10.25Z",
        }
    }
    detail = ks.ContainerDetail.from_inspect(info)
    assert (detail.exit_code, detail.reason) == (137, "Error")
    assert detail.finished_epoch() == pytest.approx(1735689610.25)
    never_ran = ks.ContainerDetail.from_inspect(
        {
            "State": {
                "Status": "created",
                "ExitCode": 0,
                "Error": "exec: not found",
                "StartedAt": "0001-01-01T00:00:00Z",
                "FinishedAt": "0001-01-01T00:00:00Z",
            }
        }
    )
    assert (never_ran.exit_code, never_ran.reason, never_ran.started_at) == (128, "StartError", "")


# -- the CRI: codec, the kubelet's labels and annotations, garbage collection ------------------

cri = ks.cri  # lab/standin_cri.py, as the stand-in imports it


def test_codec_writes_protobuf_wire_format() -> None:
    # PodSandboxMetadata{name: "a", attempt: 1}: field 1 length-delimited, field 4 varint.
    assert cri.encode(cri.POD_SANDBOX_METADATA, {"name": "a", "attempt": 1}) == b"\x0a\x01a\x20\x01"
    # Defaults are left out, as proto3 does.
    assert cri.encode(cri.POD_SANDBOX_METADATA, {"name": "", "attempt": 0}) == b""
    # A map<string, string> is repeated entries {1: key, 2: value}; 300 is a two-byte varint.
    assert cri.encode(cri.POD_SANDBOX_FILTER, {"label_selector": {"k": "v"}}) == (
        b"\x1a\x06\x0a\x01k\x12\x01v"
    )
    assert cri.encode(cri.STOP_CONTAINER_REQUEST, {"timeout": 300}) == b"\x10\xac\x02"
    # A negative int64 is ten bytes of two's complement.
    assert (
        cri.encode(cri.STOP_CONTAINER_REQUEST, {"timeout": -1}) == b"\x10" + b"\xff" * 9 + b"\x01"
    )
    with pytest.raises(KeyError):
        cri.encode(cri.POD_SANDBOX_METADATA, {"nmae": "typo"})


def test_codec_reads_what_it_writes_and_skips_unknown_fields() -> None:
    config = {
        "metadata": {"name": "web", "attempt": 3},
        "image": {"image": "spctl-lab/pod:1.0"},
        "command": ["/bin/sh", "-c"],
        "envs": [{"key": "A", "value": "1"}],
        "labels": {"io.kubernetes.pod.uid": "u1"},
        "linux": {"security_context": {"namespace_options": {"network": 2, "pid": 1}}},
    }
    back = cri.decode(cri.CONTAINER_CONFIG, cri.encode(cri.CONTAINER_CONFIG, config))
    assert back["metadata"] == {"name": "web", "attempt": 3}
    assert back["command"] == ["/bin/sh", "-c"] and back["args"] == []
    assert back["envs"] == [{"key": "A", "value": b"1"}]
    assert back["labels"] == {"io.kubernetes.pod.uid": "u1"}
    assert back["linux"]["security_context"]["namespace_options"] == {
        "network": 2,
        "pid": 1,
        "ipc": 0,
    }
    # Fields this schema does not know (here 99, a string, and 98, a fixed64) are skipped.
    extra = b"\x9a\x06\x02hi" + b"\x91\x06" + b"\x00" * 8
    status = cri.decode(cri.CONTAINER_STATUS, extra + b"\x38\x01")
    assert status["exit_code"] == 1 and status["reason"] == ""
    negative = cri.decode(cri.CONTAINER_STATUS, b"\x38" + b"\xff" * 9 + b"\x01")
    assert negative["exit_code"] == -1


def test_codec_refuses_truncated_messages() -> None:
    with pytest.raises(ValueError, match="truncated"):
        cri.decode(cri.POD_SANDBOX_METADATA, b"\x0a\x05ab")


def test_cri_sandbox_config_is_the_kubelets(tmp_path) -> None:
    pod = pod_at(tmp_path, "static-web.yaml", seed())
    annotations = pod.annotations("2025-01-01T00:00:00Z")
    config = ks.cri_sandbox_config(pod, 2, annotations)
    assert config["metadata"] == {
        "name": "static-web-my-node1",
        "uid": pod.uid,
        "namespace": "default",
        "attempt": 2,
    }
    assert config["labels"] == {
        "role": "myrole",
        "io.kubernetes.pod.name": "static-web-my-node1",
        "io.kubernetes.pod.namespace": "default",
        "io.kubernetes.pod.uid": pod.uid,
    }
    assert config["annotations"] == {
        "kubernetes.io/config.hash": pod.uid,
        "kubernetes.io/config.source": "file",
        "kubernetes.io/config.seen": "2025-01-01T00:00:00Z",
    }
    assert config["log_directory"] == f"/var/log/pods/default_static-web-my-node1_{pod.uid}"
    assert config["hostname"] == "static-web-my-node1"
    assert config["linux"]["security_context"]["namespace_options"] == {
        "network": cri.NAMESPACE_POD,
        "pid": cri.NAMESPACE_CONTAINER,
        "ipc": cri.NAMESPACE_POD,
    }
    # It survives the wire.
    wire = cri.encode(cri.POD_SANDBOX_CONFIG, config)
    assert cri.decode(cri.POD_SANDBOX_CONFIG, wire)["annotations"] == config["annotations"]


def test_cri_host_network_pod_shares_the_nodes_namespaces_and_has_no_hostname(tmp_path) -> None:
    pod = pod_at(tmp_path, "h.yaml", seed(hostNetwork=True, hostPID=True))
    config = ks.cri_sandbox_config(pod, 0, {})
    assert "hostname" not in config
    assert config["linux"]["security_context"]["namespace_options"] == {
        "network": cri.NAMESPACE_NODE,
        "pid": cri.NAMESPACE_NODE,
        "ipc": cri.NAMESPACE_POD,
    }


def test_cri_container_config_carries_the_restart_count(tmp_path) -> None:
    pod = pod_at(tmp_path, "static-web.yaml", seed(terminationGracePeriodSeconds=5))
    spec = pod.spec["containers"][0]
    config = ks.cri_container_config(pod, spec, 3, [("/h", "/c", True)])
    assert config["metadata"] == {"name": "web", "attempt": 3}
    assert config["log_path"] == "web/3.log"
    assert config["labels"] == {
        "io.kubernetes.pod.name": "static-web-my-node1",
        "io.kubernetes.pod.namespace": "default",
        "io.kubernetes.pod.uid": pod.uid,
        "io.kubernetes.container.name": "web",
    }
    notes = config["annotations"]
    assert notes["io.kubernetes.container.restartCount"] == "3"
    assert notes["io.kubernetes.pod.terminationGracePeriod"] == "5"
    assert notes["io.kubernetes.container.terminationMessagePath"] == "/dev/termination-log"
    assert notes["io.kubernetes.container.ports"] == (
        '[{"name":"web","containerPort":80,"protocol":"TCP"}]'
    )
    assert notes["io.kubernetes.container.hash"] == ks.hash_container(spec)
    assert ks.hash_container({**spec, "image": "other"}) != ks.hash_container(spec)
    assert config["mounts"] == [{"container_path": "/c", "host_path": "/h", "readonly": True}]


def rc(cid: str, container: str, attempt: int, alive: bool, sandbox: str = "s0") -> Any:
    return ks.RuntimeContainer(
        id=cid,
        pod_uid="u1",
        pod_name="p-my-node1",
        namespace="default",
        container=container,
        attempt=attempt,
        state="running" if alive else "exited",
        created=attempt,
        sandbox_id=cid if container == "POD" else sandbox,
        ip="",
        grace=30,
    )


def pod_of(*items: Any) -> Any:
    pod = ks.PodContainers()
    for c in items:
        if c.container == "POD":
            pod.sandboxes.append(c)
        else:
            pod.containers.setdefault(c.container, []).append(c)
    for history in [pod.sandboxes, *pod.containers.values()]:
        history.sort(key=lambda c: c.attempt, reverse=True)
    return pod


def test_gc_keeps_the_newest_dead_container_of_each_name() -> None:
    pod = pod_of(
        rc("s0", "POD", 0, True),
        rc("w0", "web", 0, False),
        rc("w1", "web", 1, False),
        rc("w2", "web", 2, True),
        rc("x0", "side", 0, False),
    )
    assert [c.id for c in ks.garbage(pod)] == ["w0"]


def test_gc_keeps_a_dead_sandbox_while_it_holds_a_dead_container() -> None:
    # The sandbox died; a new one runs the restarted container; the old one holds w0.
    pod = pod_of(
        rc("s0", "POD", 0, False),
        rc("s1", "POD", 1, True),
        rc("w0", "web", 0, False, "s0"),
        rc("w1", "web", 1, True, "s1"),
    )
    assert ks.garbage(pod) == []
    # Once w1 has died too, w0 goes, and with it the sandbox that held it.
    pod = pod_of(
        rc("s0", "POD", 0, False),
        rc("s1", "POD", 1, True),
        rc("w0", "web", 0, False, "s0"),
        rc("w1", "web", 1, False, "s1"),
    )
    assert [c.id for c in ks.garbage(pod)] == ["w0", "s0"]


def test_gc_never_removes_the_newest_sandbox_and_removes_older_empty_ones() -> None:
    pod = pod_of(rc("s0", "POD", 0, False), rc("s1", "POD", 1, False), rc("s2", "POD", 2, False))
    assert [c.id for c in ks.garbage(pod)] == ["s0", "s1"]


def cri_sandbox(sid: str, attempt: int, ready: bool, pod: str = "p-my-node1") -> dict:
    return {
        "id": sid,
        "metadata": {"name": pod, "uid": "u1", "namespace": "default", "attempt": attempt},
        "state": cri.SANDBOX_READY if ready else cri.SANDBOX_NOTREADY,
        "created_at": attempt,
        "labels": {
            "io.kubernetes.pod.name": pod,
            "io.kubernetes.pod.namespace": "default",
            "io.kubernetes.pod.uid": "u1",
        },
        "annotations": {},
    }


def cri_container(cid: str, sandbox: str, attempt: int, state: int) -> dict:
    return {
        "id": cid,
        "pod_sandbox_id": sandbox,
        "metadata": {"name": "web", "attempt": attempt},
        "state": state,
        "created_at": attempt,
        "labels": {
            "io.kubernetes.pod.name": "p-my-node1",
            "io.kubernetes.pod.namespace": "default",
            "io.kubernetes.pod.uid": "u1",
            "io.kubernetes.container.name": "web",
        },
        "annotations": {"io.kubernetes.pod.terminationGracePeriod": "7"},
    }


def test_cri_listing_grouped_into_pods() -> None:
    sandboxes = [
        cri_sandbox("s1", 1, True),
        cri_sandbox("s0", 0, False),
        cri_sandbox("other", 0, True, pod="p-my-node2"),  # another node's pod
    ]
    containers = [
        cri_container("w0", "s0", 0, cri.CONTAINER_EXITED),
        cri_container("w1", "s1", 1, cri.CONTAINER_RUNNING),
    ]
    pods = ks.runtime_containers_from_cri(sandboxes, containers, NODE)
    assert list(pods) == ["u1"]
    pod = pods["u1"]
    assert [(s.id, s.attempt, s.alive) for s in pod.sandboxes] == [
        ("s1", 1, True),
        ("s0", 0, False),
    ]
    web = pod.containers["web"]
    assert [(c.id, c.attempt, c.state, c.sandbox_id, c.grace) for c in web] == [
        ("w1", 1, "running", "s1", 7),
        ("w0", 0, "exited", "s0", 7),
    ]


def test_cri_container_status_as_detail() -> None:
    exited = {
        "state": cri.CONTAINER_EXITED,
        "started_at": 1_700_000_000_000_000_000,
        "finished_at": 1_700_000_001_500_000_000,
        "exit_code": 1,
        "reason": "Error",
    }
    detail = ks.detail_from_cri(exited)
    assert (detail.exit_code, detail.reason) == (1, "Error")
    assert detail.finished_at == "2023-11-14T22:13:21.500000000Z"
    assert detail.finished_epoch() == pytest.approx(1_700_000_001.5)
    never = ks.detail_from_cri({"state": cri.CONTAINER_CREATED})
    assert (never.exit_code, never.reason) == (128, "StartError")


@pytest.mark.parametrize(
    "argv, config, runtime",
    [
        ([], "", "docker"),  # the seed's Fedora node sets none
        (["--container-runtime-endpoint=unix:///var/run/cri-dockerd.sock"], "", "docker"),
        (["--container-runtime-endpoint=unix:///run/containerd/containerd.sock"], "", "cri"),
        ([], "containerRuntimeEndpoint: unix:///run/k3s/containerd/containerd.sock\n", "cri"),
    ],
)
def test_runtime_follows_the_container_runtime_endpoint(
    tmp_path, monkeypatch, argv, config, runtime
) -> None:
    monkeypatch.setattr(cri, "CRIClient", lambda endpoint: SimpleNamespace(endpoint=endpoint))
    if config:
        path = tmp_path / "config.yaml"
        path.write_text(
            "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n" + config
        )
        argv = [*argv, f"--config={path}"]
    settings = ks.build_settings(ks.parse_flags(argv), {}, NODE)
    made = ks.make_runtime(settings, {})
    assert isinstance(made, ks.DockerRuntime if runtime == "docker" else ks.CRIRuntime)
    if runtime == "cri":
        assert made.cri.endpoint == settings.runtime_endpoint
        assert made.cri.endpoint.endswith("/containerd.sock")


class FakeContainerd:
    """In memory: the CRI calls the stand-in makes, answered as containerd answers them."""

    def __init__(self) -> None:
        self.sandboxes: dict[str, dict] = {}
        self.containers: dict[str, dict] = {}
        self.status: dict[str, dict] = {}
        self.images = {"spctl-lab/pod:1.0"}
        self.made = 0

    def _id(self) -> str:
        self.made += 1
        return f"id{self.made}"

    def run_pod_sandbox(self, config: dict) -> str:
        wire = cri.decode(cri.POD_SANDBOX_CONFIG, cri.encode(cri.POD_SANDBOX_CONFIG, config))
        sid = self._id()
        self.sandboxes[sid] = {
            "id": sid,
            "metadata": wire["metadata"],
            "state": cri.SANDBOX_READY,
            "created_at": self.made,
            "labels": wire["labels"],
            "annotations": wire["annotations"],
        }
        return sid

    def list_pod_sandbox(self) -> list[dict]:
        return list(self.sandboxes.values())

    def pod_sandbox_status(self, sid: str) -> dict:
        return {"network": {"ip": "10.88.0.9"}}

    def stop_pod_sandbox(self, sid: str) -> None:
        if sid in self.sandboxes:
            self.sandboxes[sid]["state"] = cri.SANDBOX_NOTREADY

    def remove_pod_sandbox(self, sid: str) -> None:
        self.sandboxes.pop(sid, None)
        for cid in [c for c, v in self.containers.items() if v["pod_sandbox_id"] == sid]:
            self.remove_container(cid)

    def image_present(self, image: str) -> bool:
        return image in self.images

    def create_container(self, sid: str, config: dict, sandbox_config: dict) -> str:
        assert sid in self.sandboxes
        wire = cri.decode(cri.CONTAINER_CONFIG, cri.encode(cri.CONTAINER_CONFIG, config))
        cid = self._id()
        self.containers[cid] = {
            "id": cid,
            "pod_sandbox_id": sid,
            "metadata": wire["metadata"],
            "state": cri.CONTAINER_CREATED,
            "created_at": self.made,
            "labels": wire["labels"],
            "annotations": wire["annotations"],
        }
        self.status[cid] = {"state": cri.CONTAINER_CREATED}
        return cid

    def start_container(self, cid: str) -> None:
        self.containers[cid]["state"] = cri.CONTAINER_RUNNING
        self.status[cid] = {"state": cri.CONTAINER_RUNNING, "started_at": time.time_ns()}

    def exit(self, cid: str, code: int) -> None:
        """The container's task ends (as `ctr tasks kill` makes it)."""
        self.containers[cid]["state"] = cri.CONTAINER_EXITED
        self.status[cid] = {
            "state": cri.CONTAINER_EXITED,
            "started_at": self.status[cid].get("started_at", 0),
            "finished_at": time.time_ns(),
            "exit_code": code,
            "reason": "Error" if code else "Completed",
        }

    def stop_container(self, cid: str, timeout: int) -> None:
        if self.containers[cid]["state"] == cri.CONTAINER_RUNNING:
            self.exit(cid, 137)

    def remove_container(self, cid: str) -> None:
        self.containers.pop(cid, None)

    def list_containers(self) -> list[dict]:
        return list(self.containers.values())

    def container_status(self, cid: str) -> dict:
        return self.status[cid]

    def web(self) -> list[tuple[str, str, int, int]]:
        """(id, sandbox, attempt, state) of the web containers, oldest first."""
        return [
            (c["id"], c["pod_sandbox_id"], c["metadata"]["attempt"], c["state"])
            for c in self.containers.values()
        ]


def cri_kubelet(tmp_path, monkeypatch) -> tuple[Any, FakeContainerd]:
    monkeypatch.setattr(ks, "POD_LOGS_DIR", str(tmp_path / "logs"))
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    write(manifests, "static-web.yaml", SEED)
    settings = ks.Settings(
        node_name=NODE, manifest_path=str(manifests), root_dir=str(tmp_path / "root")
    )
    fake = FakeContainerd()
    kubelet = ks.Kubelet(settings, ks.CRIRuntime(fake))
    return kubelet, fake


def sync(kubelet: Any) -> None:
    kubelet._read_file_source()
    kubelet.sync_once()
    deadline = time.monotonic() + 5
    while kubelet.terminator._busy and time.monotonic() < deadline:
        time.sleep(0.01)


def test_cri_kubelet_runs_restarts_and_recreates_the_sandbox(tmp_path, monkeypatch) -> None:
    kubelet, fake = cri_kubelet(tmp_path, monkeypatch)
    sync(kubelet)
    (s0,) = fake.sandboxes
    assert fake.web() == [("id2", s0, 0, cri.CONTAINER_RUNNING)]
    assert (tmp_path / "logs").joinpath(next(iter(os.listdir(tmp_path / "logs"))), "web").is_dir()
    pod = kubelet.pod_list[0]
    assert pod["status"]["phase"] == "Running" and pod["status"]["podIP"] == "10.88.0.9"
    assert pod["status"]["containerStatuses"][0]["containerID"] == "containerd://id2"

    # The container's task is killed: restarted at once in the same sandbox, attempt 1.
    fake.exit("id2", 137)
    sync(kubelet)
    assert fake.web() == [
        ("id2", s0, 0, cri.CONTAINER_EXITED),
        ("id3", s0, 1, cri.CONTAINER_RUNNING),
    ]
    assert fake.containers["id3"]["annotations"]["io.kubernetes.container.restartCount"] == "1"

    # The sandbox dies: its container is stopped, a new sandbox (attempt 1) is made, and the
    # container restarts there after the back-off; the old sandbox stays (it holds id3).
    fake.sandboxes[s0]["state"] = cri.SANDBOX_NOTREADY
    sync(kubelet)
    s1 = next(s for s in fake.sandboxes if s != s0)
    assert fake.sandboxes[s1]["metadata"]["attempt"] == 1
    assert fake.containers["id3"]["state"] == cri.CONTAINER_EXITED
    sync(kubelet)
    waiting = kubelet.pod_list[0]["status"]["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "CrashLoopBackOff" and "back-off 10s" in waiting["message"]
    assert set(fake.sandboxes) == {s0, s1}

    kubelet.backoff = ks.RestartBackoff(initial=0.0)  # skip the wait
    sync(kubelet)
    assert fake.web()[-1][1:] == (s1, 2, cri.CONTAINER_RUNNING)
    assert set(fake.sandboxes) == {s0, s1}  # id3 is the newest dead container, in s0

    # The file goes: the pod goes, every sandbox and container with it.
    os.remove(tmp_path / "manifests" / "static-web.yaml")
    kubelet._next_relist = 0
    sync(kubelet)
    assert fake.sandboxes == {} and fake.containers == {}


def test_cri_kubelet_image_pulls(tmp_path, monkeypatch, capsys) -> None:
    from spctl_agent.system import kubelet_log

    kubelet, fake = cri_kubelet(tmp_path, monkeypatch)
    fake.images = set()
    sync(kubelet)
    status = kubelet.pod_list[0]["status"]["containerStatuses"][0]
    assert status["state"]["waiting"]["reason"] == "ErrImagePull"
    assert fake.containers == {}
    pod = kubelet.pod_list[0]["metadata"]
    first = kubelet_log.failure(
        capsys.readouterr().err.splitlines(), "/nowhere", pod["name"], pod["namespace"]
    )
    assert first == (
        "the kubelet cannot start default/static-web-my-node1: ErrImagePull: Failed to pull "
        'image "spctl-lab/pod:1.0": rpc error: code = NotFound desc = failed to pull and '
        'unpack image "spctl-lab/pod:1.0": the lab has no registry'
    )
    sync(kubelet)  # within the pull back-off
    status = kubelet.pod_list[0]["status"]["containerStatuses"][0]
    assert status["state"]["waiting"]["reason"] == "ImagePullBackOff"
    again = kubelet_log.failure(
        capsys.readouterr().err.splitlines(), "/nowhere", pod["name"], pod["namespace"]
    )
    assert again and "ImagePullBackOff" in again and "Back-off pulling image" in again


def test_pull_policy_defaults() -> None:
    assert ks.pull_policy({"image": "spctl-lab/pod:latest"}) == "Always"
    assert ks.pull_policy({"image": "spctl-lab/pod:1.0"}) == "IfNotPresent"
    assert ks.pull_policy({"image": "registry:5000/pod"}) == "Always"
    assert ks.pull_policy({"image": "registry:5000/pod:1.2"}) == "IfNotPresent"
    assert ks.pull_policy({"image": "pod@sha256:" + "0" * 64}) == "IfNotPresent"
    assert ks.pull_policy({"image": "pod:latest", "imagePullPolicy": "Never"}) == "Never"


def test_cri_kubelet_never_pulls(tmp_path, monkeypatch) -> None:
    kubelet, fake = cri_kubelet(tmp_path, monkeypatch)
    fake.images = set()
    pull_never = kubelet.pulls.failure
    monkeypatch.setattr(
        kubelet.pulls,
        "failure",
        lambda pod, spec, now: pull_never(pod, dict(spec, imagePullPolicy="Never"), now),
    )
    sync(kubelet)
    status = kubelet.pod_list[0]["status"]["containerStatuses"][0]
    assert status["state"]["waiting"]["reason"] == "ErrImageNeverPull"
    assert fake.containers == {}


def test_cri_kubelet_pulls_a_latest_image_even_when_present(tmp_path, monkeypatch) -> None:
    """imagePullPolicy Always (the default for :latest) pulls at every start, so a present
    image does not help on a node that cannot reach a registry (image_manager.go
    shouldPullImage)."""
    kubelet, fake = cri_kubelet(tmp_path, monkeypatch)
    latest = json.loads(json.dumps(SEED))
    latest["spec"]["containers"][0]["image"] = "spctl-lab/pod:latest"
    write(tmp_path / "manifests", "static-web.yaml", latest)
    fake.images = {"spctl-lab/pod:latest"}
    sync(kubelet)
    status = kubelet.pod_list[0]["status"]["containerStatuses"][0]
    assert status["state"]["waiting"]["reason"] == "ErrImagePull"
    assert fake.containers == {}
    latest["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    write(tmp_path / "manifests", "static-web.yaml", latest)
    kubelet._next_relist = 0
    sync(kubelet)  # the pod of the old file goes first
    sync(kubelet)
    assert [c[3] for c in fake.web()] == [cri.CONTAINER_RUNNING]


# -- releases and RelaxedEnvironmentVariableValidation ---------------------------------------


@pytest.fixture
def gates():
    """The process-wide feature gates, put back after the test."""
    saved = dict(ks.FEATURE_GATES)
    yield ks.FEATURE_GATES
    ks.FEATURE_GATES.clear()
    ks.FEATURE_GATES.update(saved)


def pod_with_env(name: str) -> dict[str, Any]:
    return seed(containers=[{"name": "w", "image": "i", "env": [{"name": name, "value": "v"}]}])


def test_release_knob_and_version(capsys) -> None:
    assert ks.parse_release(None) == (1, 34)
    assert ks.parse_release("v1.31.4") == (1, 31)
    assert ks.parse_release("1.29") == (1, 29)
    for bad in ("1.28", "1.35", "2.0", "latest", "1.31.x"):
        with pytest.raises(ks.ConfigError, match="models releases 1.29 to 1.34"):
            ks.parse_release(bad)
    assert ks.main(["--version"], env={"KUBELET_STANDIN_RELEASE": "1.31"}) == 0
    assert capsys.readouterr().out == "Kubernetes v1.31.0-spctl-lab-standin\n"
    assert ks.main(["--version"], env={}) == 0
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
    settings = ks.build_settings(ks.parse_flags(argv), {"KUBELET_STANDIN_RELEASE": release}, NODE)
    assert ks.resolve_feature_gates(settings) == {"RelaxedEnvironmentVariableValidation": expected}


@pytest.mark.parametrize(
    "release, flag, message",
    [
        ("1.34", "RelaxedEnvironmentVariableValidation=false", "feature is locked to true"),
        ("1.29", "RelaxedEnvironmentVariableValidation=true", "unrecognized feature gate"),
    ],
)
def test_a_gate_the_release_refuses_stops_the_kubelet(tmp_path, capsys, release, flag, message):
    argv = [f"--config={kubelet_config(tmp_path)}", f"--feature-gates={flag}"]
    assert ks.main(argv, env={"KUBELET_STANDIN_RELEASE": release}) == 1
    assert message in capsys.readouterr().err


def test_feature_gates_flag_syntax() -> None:
    with pytest.raises(ks.FlagError, match="missing bool value for A"):
        ks.parse_flags(["--feature-gates=A"])
    with pytest.raises(ks.FlagError, match="invalid value of A=maybe"):
        ks.parse_flags(["--feature-gates=A=maybe"])
    assert ks.parse_flags(["--feature-gates=A=true,B=0", "--feature-gates=C=t"]) == {
        "feature-gates": {"A": True, "B": False, "C": True}
    }


STRICT_MESSAGE = (
    "a valid environment variable name must consist of alphabetic characters, digits, '_', "
    "'-', or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or "
    "'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')"
)


@pytest.mark.parametrize(
    "name, relaxed, errors",
    [
        ("MY_VAR.name-1", False, []),
        ("1ST_PORT", False, [STRICT_MESSAGE]),
        ("1ST_PORT", True, []),
        ("my var", False, [STRICT_MESSAGE]),
        ("my var", True, []),  # a space is printable ASCII
        ("..x", False, ["must not start with '..'"]),
        ("..", False, ["must not be '..'"]),
        ("A=B", True, ["a valid environment variable name must consist only of printable "
                       "ASCII characters other than '='"]),
        ("tab\there", True, ["a valid environment variable name must consist only of "
                             "printable ASCII characters other than '='"]),
        ("caf\u00e9", True, ["a valid environment variable name must consist only of "
                             "printable ASCII characters other than '='"]),
    ],
)
def test_env_var_names_by_the_gate(gates, name, relaxed, errors) -> None:
    gates["RelaxedEnvironmentVariableValidation"] = relaxed
    assert ks.env_var_name_errors(name) == errors


def test_an_older_release_refuses_a_name_the_newer_one_runs(tmp_path, capsys, gates) -> None:
    write(tmp_path, "static-web.yaml", pod_with_env("1ST_PORT"))
    assert list(listed(tmp_path)) == [f"static-web-{NODE}"]
    gates["RelaxedEnvironmentVariableValidation"] = False
    assert listed(tmp_path) == {}
    [error] = logged_errors(capsys.readouterr().err)
    assert error == (
        f'invalid pod: [spec.containers[0].env[0].name: Invalid value: "1ST_PORT": '
        f"{STRICT_MESSAGE}]"
    )
