"""A pod whose container crashed and came back, as status shows it: the kubelet's phase
(getPhase, pkg/kubelet/kubelet_pods.go: Running under restartPolicy Always), RESTARTS, and
the last exit code (kubectl describe's Last State) in the wide table and in JSON."""

from __future__ import annotations

import io
import json

from rich.console import Console
from spctl_agent.runtime import pods as podlib

from cli.report import container_text, status_rows
from spctl.desired.inventory import Node, SSHSettings
from spctl.desired.render import DesiredPod
from spctl.plan.status import node_status
from tests.fakes.node_facts import facts_from_case

WEB = "metadata: {name: static-web}\nspec: {containers: [{name: web, image: x}]}\n"
NODE = Node(name="my-node1", address="127.0.0.1", ssh=SSHSettings())


def summary(newest_state, previous_exit):
    """What the agent reads of the runtime (runtime.pods.summarize): the newest container
    and, as its last_exit_code, the exit of the one before it."""
    record = {
        "sandbox": {"id": "s1", "state": "running", "created": 1_700_000_000},
        "sandboxes": [],
        "annotations": {"kubernetes.io/config.source": "file"},
        "containers": {
            "web": {
                "id": "c2",
                "state": newest_state,
                "restarts": 1,
                "exit_code": 1 if newest_state == "exited" else None,
                "reason": "Error" if newest_state == "exited" else None,
                "last_exit_code": previous_exit,
                "last_reason": "Error" if previous_exit else None,
                "sandbox_id": "s1",
                "created": 1_700_000_010,
            }
        },
    }
    return podlib.summarize("default", "static-web-my-node1", "u1", record, "Always")


def status_of(pod_summary):
    facts = facts_from_case(
        {
            "units": {
                "kubelet": {"EnvironmentFiles": "/etc/kubernetes/kubelet (ignore_errors=yes)"}
            },
            "files": {
                "/etc/kubernetes/kubelet": 'KUBELET_ARGS="--pod-manifest-path=/etc/kubelet.d/"\n'
            },
            "dirs": {"/etc/kubelet.d": {"owned": ["static-web.yaml"], "static-web.yaml": WEB}},
            "pods": [pod_summary],
        }
    )
    desired = [DesiredPod("static-web", "static-web.yaml.j2", WEB)]
    return node_status(NODE, facts, desired, ["static-web"])


def shown(status) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=400, color_system=None).print(status_rows([status], wide=True))
    return buffer.getvalue()


def test_a_pod_that_crashed_once_and_runs_is_running_with_one_restart_and_its_last_exit():
    status = status_of(summary("running", 1))
    (row,) = status.pods
    assert (row.phase, row.ready, row.restarts) == ("Running", True, 1)
    text = shown(status)
    assert "web:running (last exit 1, Error)" in text
    line = next(line for line in text.splitlines() if "static-web" in line)
    assert line.split()[3:6] == ["Running", "1/1", "1"]  # PHASE READY RESTARTS
    pod = json.loads(json.dumps(status.as_dict()))["pods"][0]
    assert pod["restarts"] == 1 and pod["phase"] == "Running"
    assert pod["containers"][0]["last_exit_code"] == 1
    assert pod["containers"][0]["last_reason"] == "Error"


def test_a_crashed_container_waiting_for_its_restart_keeps_the_pod_running_not_ready():
    status = status_of(summary("exited", 1))
    (row,) = status.pods
    assert (row.phase, row.ready) == ("Running", False)
    assert "web:exited (last exit 1, Error)" in shown(status)
    assert " 0/1 " in shown(status)


def test_a_container_that_never_ended_shows_no_last_exit():
    assert container_text({"name": "web", "state": "running"}) == "web:running"
    assert container_text({"name": "web", "state": "running", "last_exit_code": 0}) == (
        "web:running (last exit 0)"
    )
