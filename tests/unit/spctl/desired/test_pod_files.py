"""A pod's files in the inventory (``files:``), checked before any node is touched, and
rendered beside the pod with the digest annotation in its manifest."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from spctl.desired.fleet import Fleet
from spctl.desired.inventory import MAX_FILE_BYTES, load_inventory
from spctl.desired.pod_identity import same_pod
from spctl.desired.render import (
    FILES_ANNOTATION,
    DesiredFile,
    dangerous_pods,
    files_digest,
    render_all,
)
from spctl.errors import InventoryError, ValidationError

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: haproxy
  namespace: kube-system
spec:
  containers:
    - name: haproxy
      image: haproxy:2.8
      volumeMounts:
        - {name: cfg, mountPath: /usr/local/etc/haproxy, readOnly: true}
  volumes:
    - name: cfg
      hostPath: {path: /etc/haproxy, type: Directory}
"""


def write(tmp_path: Path, files: str, extra: str = "", manifest_dir: str = "") -> Path:
    (tmp_path / "templates").mkdir(exist_ok=True)
    (tmp_path / "templates" / "haproxy.yaml.j2").write_text(POD)
    (tmp_path / "templates" / "haproxy.cfg.j2").write_text(
        "global\n  # {{ node.name }} {{ pod.name }} {{ port }}\n"
    )
    (tmp_path / "templates" / "ca.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\n\x00\xff\n")
    path = tmp_path / "inv.yaml"
    md = f"    manifest_dir: {manifest_dir}\n" if manifest_dir else ""
    path.write_text(
        "nodes:\n  n1:\n    vars: {port: 6443}\n"
        + md
        + "    pods:\n      - name: haproxy\n        files:\n"
        + "".join(f"          - {line}\n" for line in files.splitlines())
        + extra
    )
    return path


def load(path: Path):
    return load_inventory(path, ssh_config=path.parent / "no-ssh-config")


def refused(tmp_path: Path, files: str, *texts: str, manifest_dir: str = "") -> str:
    with pytest.raises(InventoryError) as raised:
        load(write(tmp_path, files, manifest_dir=manifest_dir))
    message = str(raised.value)
    assert str(tmp_path / "inv.yaml") in message
    for text in texts:
        assert text in message, message
    return message


def test_files_loaded_with_mode_owner_and_group(tmp_path):
    inv = load(
        write(
            tmp_path,
            '{path: /etc/haproxy/haproxy.cfg, template: haproxy.cfg.j2, mode: "0640", owner: '
            "haproxy, group: 99}\n{path: /etc/haproxy/ca.pem, source: ca.pem, mode: 0600}",
        )
    )
    cfg, ca = inv.nodes["n1"].pods[0].files
    assert (cfg.path, cfg.kind, cfg.mode, cfg.owner, cfg.group) == (
        "/etc/haproxy/haproxy.cfg",
        "template",
        0o640,
        "haproxy",
        "99",
    )
    assert cfg.file == (tmp_path / "templates" / "haproxy.cfg.j2").resolve()
    assert (ca.kind, ca.mode, ca.owner) == ("source", 0o600, None)  # YAML 0600 is octal


@pytest.mark.parametrize(
    "entry, texts",
    [
        ("{path: etc/haproxy.cfg, source: ca.pem}", ["files[0].path", "absolute, normalised"]),
        ("{path: /etc/../etc/x, source: ca.pem}", ["files[0].path", "'/etc/x'"]),
        ("{path: /etc/haproxy/, source: ca.pem}", ["files[0].path", "normalised"]),
        ("{path: //etc/x, source: ca.pem}", ["normalised"]),
        ("{path: /proc/sys/x, source: ca.pem}", ["under /proc"]),
        ("{path: /sys/x, source: ca.pem}", ["under /sys"]),
        ("{path: /dev/sda, source: ca.pem}", ["under /dev"]),
        ("{path: /var/lib/spctl/state.json, source: ca.pem}", ["/var/lib/spctl", "own state"]),
        (
            "{path: /etc/kubernetes/manifests/x.cfg, source: ca.pem}",
            ["/etc/kubernetes/manifests", "parse it as a pod"],
        ),
        (
            "{path: /var/lib/rancher/k3s/agent/pod-manifests/x, source: ca.pem}",
            ["k3s's default", "parse it as a pod"],
        ),
        ("{path: /etc/kubelet.d/x, source: ca.pem}", ["a manifest directory"]),
        ("{path: /etc/x}", ["exactly one of template, source or secret", "it has none"]),
        (
            "{path: /etc/x, source: ca.pem, template: haproxy.cfg.j2}",
            ["exactly one", "template and source"],
        ),
        ("{path: /etc/x, source: ''}", ["files[0].source: expected a file name"]),
        ("{path: /etc/x, secret: plain}", ["files[0].secret: expected a mapping"]),
        ("{path: /etc/x, source: ca.pem, mode: rw-r--r--}", ["files[0].mode", '"0644"']),
        ("{path: /etc/x, source: ca.pem, mode: 99999}", ["files[0].mode"]),
        ("{path: /etc/x, source: ca.pem, owner: 'a b'}", ["files[0].owner"]),
        ("{path: /etc/x, source: ca.pem, group: [x]}", ["files[0].group"]),
        ("{path: /etc/x, source: ca.pem, size: 3}", ["files[0]", "unknown key 'size'"]),
        ("just-a-path", ["files[0]", "expected a mapping"]),
    ],
)
def test_bad_file_entries_refused_naming_the_field(tmp_path, entry, texts):
    message = refused(tmp_path, entry, *texts)
    assert "nodes.n1.pods[0] (haproxy)" in message


def test_files_must_be_a_list(tmp_path):
    path = tmp_path / "inv.yaml"
    path.write_text("nodes:\n  n1:\n    pods:\n      - {name: haproxy, files: /etc/x}\n")
    with pytest.raises(InventoryError, match=r"pods\[0\]\.files: expected a list"):
        load(path)


def test_a_path_inside_the_nodes_manifest_dir_refused(tmp_path):
    refused(
        tmp_path,
        "{path: /srv/pods/haproxy.cfg, source: ca.pem}",
        "nodes.n1: pod haproxy: files[0].path",
        "manifest_dir /srv/pods",
        manifest_dir="/srv/pods",
    )


def test_a_path_two_pods_use_refused(tmp_path):
    path = write(
        tmp_path,
        "{path: /etc/haproxy/haproxy.cfg, template: haproxy.cfg.j2}",
        extra="      - name: other\n        files: [{path: /etc/haproxy/haproxy.cfg, "
        "source: ca.pem}]\n",
    )
    with pytest.raises(InventoryError) as raised:
        load(path)
    assert "pod other: files[0].path" in str(raised.value)
    assert "also a file of pod haproxy" in str(raised.value)


def test_a_path_inside_another_file_refused(tmp_path):
    refused(
        tmp_path,
        "{path: /etc/haproxy, source: ca.pem}\n{path: /etc/haproxy/haproxy.cfg, source: ca.pem}",
        "files[1].path",
        "one is inside the other",
    )


def test_rendered_files_and_the_digest_annotation(tmp_path):
    inv = load(
        write(
            tmp_path,
            "{path: /etc/haproxy/haproxy.cfg, template: haproxy.cfg.j2}\n"
            '{path: /etc/haproxy/ca.pem, source: ca.pem, mode: "0600", owner: haproxy}',
        )
    )
    (pod,) = render_all([inv.nodes["n1"]], Fleet())["n1"]
    cfg, ca = pod.files
    # The same context as the pod's template: the node's vars, node and pod.
    assert cfg.content == b"global\n  # n1 haproxy 6443\n"
    assert (cfg.mode, cfg.secret) == (0o644, False)
    assert ca.content == b"-----BEGIN CERTIFICATE-----\n\x00\xff\n"  # bytes as they are
    assert (ca.mode, ca.owner) == (0o600, "haproxy")
    annotations = yaml.safe_load(pod.content)["metadata"]["annotations"]
    assert annotations == {FILES_ANNOTATION: files_digest(pod.files)}
    assert pod.notes == ()


def test_the_digest_changes_with_content_mode_and_owner():
    base = DesiredFile("/etc/a", b"x")
    digests = {
        files_digest((f,))
        for f in (
            base,
            DesiredFile("/etc/a", b"y"),
            DesiredFile("/etc/a", b"x", mode=0o600),
            DesiredFile("/etc/a", b"x", owner="haproxy"),
            DesiredFile("/etc/a", b"x", group="haproxy"),
            DesiredFile("/etc/b", b"x"),
        )
    }
    assert len(digests) == 6
    two = (DesiredFile("/etc/a", b"x"), DesiredFile("/etc/b", b"y"))
    assert files_digest(two) == files_digest(two[::-1])  # path order, not the inventory's


def test_a_file_change_is_a_pod_change(tmp_path):
    """The kubelet hashes the decoded pod, annotations included: a new digest is a new pod
    (a new UID), so the kubelet restarts it and spctl waits for it."""
    path = write(tmp_path, "{path: /etc/haproxy/haproxy.cfg, template: haproxy.cfg.j2}")
    before = render_all([load(path).nodes["n1"]], Fleet())["n1"][0]
    (tmp_path / "templates" / "haproxy.cfg.j2").write_text("global\n  maxconn 10\n")
    after = render_all([load(path).nodes["n1"]], Fleet())["n1"][0]
    assert not same_pod(before.content, after.content)
    again = render_all([load(path).nodes["n1"]], Fleet())["n1"][0]
    assert again.content == after.content


def test_a_pod_without_files_has_no_annotation(tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "haproxy.yaml.j2").write_text(POD)
    (tmp_path / "inv.yaml").write_text("nodes:\n  n1:\n    pods: [haproxy]\n")
    (pod,) = render_all([load(tmp_path / "inv.yaml").nodes["n1"]], Fleet())["n1"]
    assert FILES_ANNOTATION not in pod.content and pod.files == ()


def test_a_file_no_hostpath_covers_is_a_warning_even_under_strict(tmp_path):
    inv = load(write(tmp_path, "{path: /etc/haproxy.cfg, template: haproxy.cfg.j2}"))
    rendered = render_all([inv.nodes["n1"]], Fleet())
    (note,) = rendered["n1"][0].notes
    assert "file /etc/haproxy.cfg: no hostPath volume of the pod covers it" in note
    assert "node n1, pod haproxy" in note
    assert dangerous_pods(rendered, strict=True) == [note]


def test_the_template_may_not_set_the_annotation(tmp_path):
    path = write(tmp_path, "{path: /etc/haproxy/haproxy.cfg, template: haproxy.cfg.j2}")
    (tmp_path / "templates" / "haproxy.yaml.j2").write_text(
        POD.replace("  namespace:", f"  annotations: {{{FILES_ANNOTATION}: x}}\n  namespace:")
    )
    with pytest.raises(ValidationError, match="spctl sets this annotation"):
        render_all([load(path).nodes["n1"]], Fleet())


def test_file_template_errors_name_node_pod_and_file(tmp_path):
    path = write(tmp_path, "{path: /etc/haproxy/haproxy.cfg, template: haproxy.cfg.j2}")
    (tmp_path / "templates" / "haproxy.cfg.j2").write_text("{{ nowhere }}\n")
    with pytest.raises(ValidationError) as raised:
        render_all([load(path).nodes["n1"]], Fleet())
    message = str(raised.value)
    assert "node n1, pod haproxy, files[0] (/etc/haproxy/haproxy.cfg)" in message
    assert "'nowhere' is undefined" in message


def test_a_missing_source_file_is_named(tmp_path):
    path = write(tmp_path, "{path: /etc/haproxy/haproxy.cfg, source: gone.cfg}")
    with pytest.raises(ValidationError, match=r"files\[0\].*source file .*gone.cfg not found"):
        render_all([load(path).nodes["n1"]], Fleet())


@pytest.mark.parametrize("kind", ["source", "template"])
def test_a_file_over_the_limit_is_refused(tmp_path, kind):
    path = write(tmp_path, f"{{path: /etc/haproxy/big, {kind}: big}}")
    (tmp_path / "templates" / "big").write_bytes(b"x" * (MAX_FILE_BYTES + 1))
    with pytest.raises(ValidationError) as raised:
        render_all([load(path).nodes["n1"]], Fleet())
    assert f"over spctl's limit of {MAX_FILE_BYTES} bytes (1 MiB)" in str(raised.value)


def test_a_secret_file_whose_secret_is_missing_is_bad_input(tmp_path, monkeypatch):
    monkeypatch.delenv("HAPROXY_KEY", raising=False)
    path = write(tmp_path, "{path: /etc/haproxy/key.pem, secret: {env: HAPROXY_KEY}}")
    with pytest.raises(ValidationError) as raised:
        render_all([load(path).nodes["n1"]], Fleet())
    assert "node n1, pod haproxy, files[0] (/etc/haproxy/key.pem)" in str(raised.value)
    assert "environment variable HAPROXY_KEY is not set" in str(raised.value)
    assert raised.value.__class__.exit_code == 2


def test_a_secret_file_is_resolved_and_kept_0600_never_shown(tmp_path, monkeypatch):
    monkeypatch.setenv("HAPROXY_KEY", "s3cret-key-bytes")
    path = write(tmp_path, "{path: /etc/haproxy/key.pem, secret: {env: HAPROXY_KEY}}")
    (pod,) = render_all([load(path).nodes["n1"]], Fleet())["n1"]
    (key,) = pod.files
    assert (key.content, key.secret, key.mode) == (b"s3cret-key-bytes", True, 0o600)
    assert "s3cret" not in repr(pod) and "s3cret" not in pod.content


def test_a_file_template_that_uses_a_secret_variable_is_a_secret_file(tmp_path, monkeypatch):
    monkeypatch.setenv("STATS_PW", "pw-0123456789")
    (tmp_path / "templates").mkdir(exist_ok=True)
    (tmp_path / "templates" / "stats.cfg.j2").write_text("password {{ stats_pw }}\n")
    path = write(
        tmp_path,
        "{path: /etc/haproxy/stats.cfg, template: stats.cfg.j2}",
        extra="defaults:\n  vars:\n    stats_pw: {secret: {env: STATS_PW}}\n",
    )
    (pod,) = render_all([load(path).nodes["n1"]], Fleet())["n1"]
    (cfg,) = pod.files
    assert (cfg.content, cfg.secret, cfg.mode) == (b"password pw-0123456789\n", True, 0o600)


def test_a_later_entry_replaces_the_pods_files_and_inventory_shows_them(tmp_path):
    (tmp_path / "inv.yaml").write_text(
        "defaults:\n  pods:\n    - name: haproxy\n      files: [{path: /etc/a, source: a}]\n"
        "groups:\n  lb:\n    members: [n1]\n    pods:\n      - name: haproxy\n        files:\n"
        '          - {path: /etc/b, secret: {env: B}, mode: "0400", owner: haproxy}\n'
        "nodes:\n  n1: {}\n  n2: {}\n"
    )
    inv = load(tmp_path / "inv.yaml")
    assert [f.path for f in inv.nodes["n1"].pods[0].files] == ["/etc/b"]
    assert [f.path for f in inv.nodes["n2"].pods[0].files] == ["/etc/a"]
    (shown,) = inv.nodes["n1"].as_dict()["pods"]
    assert shown["files"] == [
        {"path": "/etc/b", "secret": {"env": "B"}, "mode": "0400", "owner": "haproxy"}
    ]


def test_an_error_in_a_groups_files_names_the_group(tmp_path):
    (tmp_path / "inv.yaml").write_text(
        "groups:\n  lb:\n    members: [n1]\n    pods:\n      - name: haproxy\n"
        "        files: [{path: /dev/null, source: a}]\nnodes:\n  n1: {}\n"
    )
    with pytest.raises(InventoryError) as raised:
        load(tmp_path / "inv.yaml")
    assert "groups.lb.pods[0] (haproxy).files[0].path: /dev/null is under /dev" in str(raised.value)
