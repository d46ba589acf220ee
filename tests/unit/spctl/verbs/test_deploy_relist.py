"""The deploy's warning about a --timeout shorter than the kubelet's re-list period
(spctl/verbs/deploy.py relist_noted): pkg/kubelet/config/file.go logs a file it rejects
through inotify at once, else only at its next re-list, every fileCheckFrequency."""

from __future__ import annotations

from spctl.facts import NodeFacts
from spctl.plan.model import Plan, PodStep
from spctl.verbs.deploy import relist_noted
from spctl.verbs.settings import Settings
from tests.fakes.node_facts import facts_from_case


def plan_of(*actions: str) -> Plan:
    steps = tuple(
        PodStep(name=f"p{i}", file=f"p{i}.yaml", action=a, reason="") for i, a in enumerate(actions)
    )
    return Plan(
        node="my-node1",
        profile="fedora",
        node_name="my-node1",
        manifest_dir="/etc/kubelet.d",
        healthz_url="http://127.0.0.1:10248/healthz",
        unit="kubelet",
        kubelet=None,
        pods=steps,
    )


def facts(period: object = "absent") -> NodeFacts:
    kubelets = {} if period == "absent" else {"kubelet": {"file_check_frequency": period}}
    return facts_from_case({"kubelets": kubelets})


def test_a_timeout_shorter_than_the_re_list_is_warned_about() -> None:
    noted = relist_noted(plan_of("create"), facts(), Settings(timeout=15))
    assert noted.warnings == (
        "--timeout 15s is shorter than the kubelet's re-list period: it re-lists every 20s,"
        " and a file it rejects may be seen only then",
    )
    assert (
        "every 60s"
        in relist_noted(plan_of("update"), facts(60.0), Settings(timeout=30)).warnings[0]
    )


def test_no_warning_without_a_write_or_with_time_enough() -> None:
    for plan, period, timeout in (
        (plan_of("unchanged", "remove"), 20.0, 5),
        (plan_of("create"), 20.0, 20),
        (plan_of("create"), 1.0, 5),
        (plan_of("create"), None, 300),  # unknown: the default, 20 s
    ):
        assert relist_noted(plan, facts(period), Settings(timeout=timeout)).warnings == ()
