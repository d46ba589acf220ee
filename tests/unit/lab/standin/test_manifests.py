"""Manifests to pods (standin/manifests.py): what is not a pod, names, namespaces,
annotations and content-hash UIDs, and URL bodies (a Pod or a PodList)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from spctl_lab.standin.docker import container_name
from spctl_lab.standin.manifests import pods_from_url_body
from spctl_lab.standin.validation import ManifestError

from tests.fakes.standin import NODE, SEED, listed, logged_errors, pod_at, seed, write

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
    assert container_name("web", pod, 3) == f"k8s_web_static-web-my-node1_default_{pod.uid}_3"
    assert container_name("POD", pod, 0) == f"k8s_POD_static-web-my-node1_default_{pod.uid}_0"


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
        lambda d: pod_at(d, "static-web.yaml", seed(restartPolicy="Never")),
        lambda d: pod_at(
            d, "static-web.yaml", seed(containers=[{"name": "web", "image": "nginx:2"}])
        ),
    ],
    ids=["renamed file", "other node", "other restart policy", "new image"],
)
def test_uid_changes_with_path_node_or_content(tmp_path, change) -> None:
    original = pod_at(tmp_path, "static-web.yaml", seed()).uid
    assert change(tmp_path).uid != original


def _with_web(**fields: Any) -> dict[str, Any]:
    """The seed pod, its container given ``fields`` (its port without protocol, which the
    kubelet defaults) and a cpu limit of 1 unless ``fields`` says otherwise."""
    pod = seed()
    web = pod["spec"]["containers"][0]
    web["ports"] = [{"name": "web", "containerPort": 80}]
    web["resources"] = {"limits": {"cpu": 1}}
    web.update(fields)
    return pod


@pytest.mark.parametrize(
    "spelled",
    [
        {"ports": [{"name": "web", "containerPort": 80, "protocol": "TCP"}]},
        {"imagePullPolicy": "IfNotPresent", "terminationMessagePolicy": "File"},
        {"terminationMessagePath": "/dev/termination-log"},
        {"resources": {"limits": {"cpu": "1"}}},
        {"resources": {"limits": {"cpu": 1}, "requests": {"cpu": 1}}},
        {"livenessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 10, "timeoutSeconds": 0}},
    ],
    ids=["protocol", "pull and message policy", "message path", "cpu quoted", "request", "probe"],
)
def test_uid_is_that_of_the_defaulted_pod(tmp_path, spelled) -> None:
    """applyDefaults (pkg/kubelet/config/common.go) hashes the decoded, defaulted pod: a
    manifest that only spells defaults out is the same pod, with the same UID."""
    plain = _with_web(
        **({"livenessProbe": {"tcpSocket": {"port": 80}}} if "livenessProbe" in spelled else {})
    )
    original = pod_at(tmp_path, "static-web.yaml", plain).uid
    assert pod_at(tmp_path, "static-web.yaml", _with_web(**spelled)).uid == original
    spec_spelled = _with_web(**spelled)
    spec_spelled["spec"].update(restartPolicy="Always", dnsPolicy="ClusterFirst")
    assert pod_at(tmp_path, "static-web.yaml", spec_spelled).uid == original


@pytest.mark.parametrize(
    "changed",
    [
        {"resources": {"limits": {"cpu": "1000m"}}},  # another Quantity (value 1000, scale -3)
        {"resources": {"limits": {"cpu": "2"}}},
        {"ports": [{"name": "web", "containerPort": 80, "protocol": "UDP"}]},
        {"imagePullPolicy": "Always"},
    ],
    ids=["1000m for 1", "cpu 2", "UDP", "pull always"],
)
def test_a_real_change_gets_a_new_uid(tmp_path, changed) -> None:
    original = pod_at(tmp_path, "static-web.yaml", _with_web()).uid
    assert pod_at(tmp_path, "static-web.yaml", _with_web(**changed)).uid != original


def test_the_pod_is_used_defaulted(tmp_path) -> None:
    """What runs the pod reads the defaulted fields: a port with no protocol is TCP, a
    probe's 0 its default (SetDefaults_Probe)."""
    pod = pod_at(
        tmp_path,
        "static-web.yaml",
        _with_web(readinessProbe={"httpGet": {"port": 80}, "periodSeconds": 0}),
    )
    web = pod.spec["containers"][0]
    assert web["ports"] == [{"name": "web", "containerPort": 80, "protocol": "TCP"}]
    assert web["readinessProbe"]["periodSeconds"] == 10
    assert web["readinessProbe"]["httpGet"] == {"port": 80, "path": "/", "scheme": "HTTP"}
    assert web["imagePullPolicy"] == "IfNotPresent"  # spctl-lab/pod:1.0 is tagged, not latest


def test_a_uid_in_the_manifest_is_kept(tmp_path) -> None:
    """applyDefaults hashes only when metadata.uid is empty: a set UID survives a change."""
    pod = seed()
    pod["metadata"]["uid"] = "fixed-uid"
    assert pod_at(tmp_path, "static-web.yaml", pod).uid == "fixed-uid"
    changed = seed(containers=[{"name": "web", "image": "nginx:2"}])
    changed["metadata"]["uid"] = "fixed-uid"
    assert pod_at(tmp_path, "static-web.yaml", changed).uid == "fixed-uid"


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
    pods = pods_from_url_body(body, "http://cfg/pods", NODE)
    assert [(p.full_name, p.source) for p in pods] == [
        (f"default/a-{NODE}", "http"),
        (f"kube-system/b-{NODE}", "http"),
    ]
    single = pods_from_url_body(json.dumps(seed()).encode(), "http://cfg/pods", NODE)
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
    with pytest.raises(ManifestError, match="serviceaccounts"):
        pods_from_url_body(body, "http://cfg/pods", NODE)
