"""A rendered pod's restartPolicy as the agent needs it to read the pod's phase
(spctl/desired/restart_policies.py): defaulted to Always as SetDefaults_PodSpec does."""

from __future__ import annotations

from spctl_agent.protocol import messages

from spctl.desired.render import DesiredPod
from spctl.desired.restart_policies import restart_policies, restart_policy
from spctl.plan.model import PodStep
from spctl.verbs.apply import _change


def test_the_policy_is_the_pods_or_the_kubelets_default():
    assert restart_policy("kind: Pod\nspec: {containers: []}\n", "a.yaml") == "Always"
    assert restart_policy("kind: Pod\nspec: {restartPolicy: Never}\n", "a.yaml") == "Never"
    assert restart_policy("kind: Pod\n", "a.yaml") is None  # no spec: the kubelet refuses it
    assert restart_policy("{{ not yaml", "a.yaml") is None


def test_policies_of_the_named_pods():
    desired = [
        DesiredPod("web", "web.yaml.j2", "spec: {containers: []}\n"),
        DesiredPod("job", "job.yaml.j2", "spec: {restartPolicy: OnFailure}\n"),
        DesiredPod("other", "other.yaml.j2", "spec: {restartPolicy: Never}\n"),
    ]
    assert restart_policies(desired, ["web", "job"]) == {"web": "Always", "job": "OnFailure"}
    request = messages.facts_request(restart_policies={"job": "OnFailure"})
    assert messages.read_facts_request(request)["restart_policies"] == {"job": "OnFailure"}


def test_a_change_carries_the_new_pods_policy_to_the_agent():
    content = "kind: Pod\nmetadata: {name: job}\nspec: {restartPolicy: Never, containers: []}\n"
    step = PodStep("job", "job.yaml", "update", "changed", content=content)
    change = messages.read_pod_change(_change(step))
    assert change["restart_policy"] == "Never"
    removed = PodStep("job", "job.yaml", "remove", "not in the inventory")
    assert messages.read_pod_change(_change(removed))["restart_policy"] is None
