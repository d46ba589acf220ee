"""URL mode's deploy side on the control host: the server must serve what the inventory
renders before a node is touched, and status tells in-sync, stale and unreachable apart;
the status rows are the pods the kubelet runs from the URL (config source http)."""

from __future__ import annotations

import os

import pytest
from spctl_cli.report import describe_url

from spctl.desired.fleet import Fleet
from spctl.desired.inventory import URLSettings, load_inventory
from spctl.desired.render import render_node
from spctl.facts import NodeFacts
from spctl.plan.status import URLStatus, url_node_status
from spctl.transport.serve_client import ServerError, fetch_digest
from spctl.verbs.source import URLSource, expected_sha256


def _fleet(site_dir) -> Fleet:
    return load_inventory(site_dir / "inv.yaml").fleet


def _settings(srv, site_dir) -> URLSettings:
    return URLSettings(base=srv.base, secret_file=site_dir / "secret")


def test_check_served_accepts_the_current_rendering(server, site):
    node = load_inventory(site / "inv.yaml").nodes["n1"]
    digest = URLSource(_settings(server, site)).check_served(node, render_node(node, _fleet(site)))
    assert digest["sha256"] == expected_sha256(node, render_node(node, _fleet(site)))


def test_a_file_mode_node_is_expected_to_be_served_no_pods(server, site):
    """What the server serves a node that left URL mode is an empty PodList (its kubelet,
    if still pointed at the URL, drops the pods), and that is what is expected of it."""
    node = load_inventory(site / "inv.yaml").nodes["filenode"]
    assert node.manifest_url is None and render_node(
        node, _fleet(site)
    )  # it has pods, in its directory
    served = fetch_digest(_settings(server, site), node)["sha256"]
    assert (
        served
        == expected_sha256(node, render_node(node, _fleet(site)))
        == expected_sha256(node, [])
    )
    url_node = load_inventory(site / "inv.yaml").nodes["n1"]
    assert expected_sha256(url_node, render_node(url_node, _fleet(site))) != expected_sha256(
        url_node, []
    )


def test_check_served_refuses_an_older_inventory(server, site):
    text = (site / "templates" / "web.yaml.j2").read_text().replace("{{ image }}", "busybox:1")
    (site / "templates" / "web.yaml.j2").write_text(text)
    os.utime(site / "templates" / "web.yaml.j2", ns=(1, 1))
    node = load_inventory(site / "inv.yaml").nodes["n1"]  # the server has not reloaded
    with pytest.raises(ServerError, match="reload it"):
        URLSource(_settings(server, site)).check_served(node, render_node(node, _fleet(site)))
    assert (
        URLSource(_settings(server, site)).served(node, render_node(node, _fleet(site))).served
        == "stale"
    )
    server.check_for_changes()
    assert (
        URLSource(_settings(server, site)).served(node, render_node(node, _fleet(site))).served
        == "in-sync"
    )


def test_a_server_that_is_not_running_is_named(site, tmp_path):
    node = load_inventory(site / "inv.yaml").nodes["n1"]
    settings = URLSettings(base="http://127.0.0.1:9", secret_file=site / "secret")
    with pytest.raises(ServerError, match="start `spctl serve`"):
        URLSource(settings).check_served(node, render_node(node, _fleet(site)))
    status = URLSource(settings).served(node, render_node(node, _fleet(site)))
    assert status.served == "unreachable"
    assert "unreachable" in describe_url(status.as_dict())


def test_a_server_with_another_secret_is_named(server, site, tmp_path):
    from spctl import manifest_url

    assert manifest_url.init_secret(tmp_path / "other")
    node = load_inventory(site / "inv.yaml").nodes["n1"]
    settings = URLSettings(base=server.base, secret_file=tmp_path / "other")
    with pytest.raises(ServerError, match="403"):
        URLSource(settings).check_served(node, render_node(node, _fleet(site)))


def _facts(pods: list[dict]) -> NodeFacts:
    return NodeFacts.from_agent(
        {
            "hostname": "n1",
            "files": {"/etc/kubernetes/kubelet": 'KUBELET_ARGS=""\n'},
            "units": {
                "kubelet": {
                    "LoadState": "loaded",
                    "ActiveState": "active",
                    "EnvironmentFiles": "/etc/kubernetes/kubelet (ignore_errors=yes)",
                }
            },
            "dirs": {},
            "owned": {},
            "runtime": {"runtime": "docker", "pods": pods},
            "healthz": True,
        }
    )


def _pod(uid: str, source: str) -> dict:
    return {
        "pod": "web-n1",
        "namespace": "default",
        "uid": uid,
        "phase": "Running",
        "ready": True,
        "restarts": 0,
        "created": 1,
        "annotations": {"kubernetes.io/config.source": source},
        "containers": [],
    }


def test_status_rows_are_the_http_pods(site):
    node = load_inventory(site / "inv.yaml").nodes["n1"]
    desired = render_node(node, _fleet(site))
    want = expected_sha256(node, desired)
    served = URLStatus(node.manifest_url, "in-sync", want, want, None)
    status = url_node_status(node, _facts([_pod("u-http", "http")]), desired, ["web"], served)
    assert [(p.name, p.pod, p.file, p.manifest, p.phase) for p in status.pods] == [
        ("web", "web-n1", node.manifest_url, "in-sync", "Running")
    ]
    # a pod of that name from the API server or a file is not the URL's
    status = url_node_status(node, _facts([_pod("u-api", "api")]), desired, ["web"], served)
    assert [(p.name, p.phase) for p in status.pods] == [("web", "Absent")]
    # a server that serves other content: the pod the kubelet runs is not the rendered one
    stale = URLStatus(node.manifest_url, "stale", "0" * 64, want, None)
    status = url_node_status(node, _facts([_pod("u-http", "http")]), desired, ["web"], stale)
    assert [(p.name, p.manifest) for p in status.pods] == [("web", "drifted")]
