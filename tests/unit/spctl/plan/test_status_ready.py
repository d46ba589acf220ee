"""Status's READY from the pods' readiness probes: the control host sends each rendered pod's
probes with the facts request, the agent makes one attempt of each on the node and marks the
pod, and the table, wide view and JSON show it."""

from __future__ import annotations

import socket

import pytest
from spctl_agent.main import handle

from spctl.desired.probe_specs import readiness_specs
from spctl.desired.render import DesiredPod
from spctl.facts import NodeFacts
from spctl.plan.status import PodStatus, ready_text
from tests.fakes.agent_node import make_node
from tests.fakes.agent_node import pod as fake_pod

PROBED = """\
apiVersion: v1
kind: Pod
metadata:
  name: static-web
spec:
  containers:
  - name: web
    image: nginx:1.27
    readinessProbe:
      tcpSocket: {{host: 127.0.0.1, port: {port}}}
"""


@pytest.fixture
def listening():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield server.getsockname()[1]
    server.close()


def pod(**kwargs) -> dict:
    """A running pod's summary with the fields agent/pods.py gives: ready as the runtime
    alone says, and the kubelet's config source."""
    summary = fake_pod(**kwargs)
    source = summary["annotations"]["kubernetes.io/config.source"]
    return {**summary, "ready": True, "source": source}


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def facts_with_probes(tmp_path, port, pods):
    node = make_node(tmp_path)
    node._runtime.pods = pods
    specs = readiness_specs(
        [DesiredPod("static-web", "t", PROBED.format(port=port))], ["static-web"]
    )
    request = {"op": "facts", "pods": ["static-web", "static-web-x"], "probes": specs}
    return handle(request, node)


def test_a_passing_readiness_probe_keeps_the_pod_ready(tmp_path, listening):
    answer = facts_with_probes(tmp_path, listening, [pod(name="static-web-n1")])
    (summary,) = answer["runtime"]["pods"]
    assert summary["ready"] is True and "not_ready" not in summary


def test_a_failing_readiness_probe_makes_a_running_pod_not_ready_and_says_why(tmp_path):
    port = closed_port()
    answer = facts_with_probes(tmp_path, port, [pod(name="static-web-n1")])
    (summary,) = answer["runtime"]["pods"]
    assert summary["phase"] == "Running"
    assert summary["ready"] is False
    assert summary["not_ready"].startswith(f"web: readiness probe: dial tcp 127.0.0.1:{port}")
    facts = NodeFacts.from_agent(answer)
    assert facts.pod("static-web-n1").not_ready == summary["not_ready"]


def test_pods_without_probes_and_other_pods_keep_todays_rule(tmp_path):
    port = closed_port()
    other = pod(name="static-web-x-n1", uid="u2")  # pod static-web-x, not static-web
    api = pod(name="static-web-n2", uid="u3", source="api")  # not a static pod
    answer = facts_with_probes(tmp_path, port, [other, api])
    assert [p["ready"] for p in answer["runtime"]["pods"]] == [True, True]
    node = make_node(tmp_path / "plain")
    node._runtime.pods = [pod(name="static-web-n1")]
    plain = handle({"op": "facts", "pods": ["static-web"]}, node)
    assert plain["runtime"]["pods"][0]["ready"] is True


def test_only_pods_with_readiness_probes_are_sent():
    without = PROBED.replace(
        "    readinessProbe:\n      tcpSocket: {{host: 127.0.0.1, port: {port}}}\n", ""
    )
    desired = [
        DesiredPod("static-web", "t", PROBED.format(port=80)),
        DesiredPod("plain", "t", without),
        DesiredPod("elsewhere", "t", PROBED.format(port=81)),
    ]
    specs = readiness_specs(desired, ["static-web", "plain"])
    assert list(specs) == ["static-web"]
    assert specs["static-web"]["containers"][0]["readinessProbe"]["tcpSocket"]["port"] == 80


def test_ready_column_counts_the_container_whose_probe_fails_as_not_ready():
    containers = [{"name": "web", "state": "running"}, {"name": "side", "state": "running"}]
    row = PodStatus("static-web", "static-web-n1", None, "in-sync", "Running", False, 0, 1.0,
                    containers, "web: readiness probe: HTTP probe failed with statuscode: 503")  # fmt: skip
    assert ready_text(row) == "1/2"
    assert row.as_dict()["not_ready"].startswith("web: readiness probe")
    row.not_ready = ""
    assert ready_text(row) == "2/2"
