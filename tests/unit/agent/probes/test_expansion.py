"""$(VAR) in exec probe commands (agent/probes/expansion.py), against the kubelet's own cases:
the inputs and expected outputs are those of kubernetes/kubernetes
third_party/forked/golang/expansion/expand_test.go (doExpansionTest), whose mapping is the
one below; the env handling is pkg/kubelet/container/helpers.go
ExpandContainerCommandOnlyStatic with v1EnvVarsToMap."""

from __future__ import annotations

import pytest
from spctl_agent.probes.expansion import (
    MAX_EXPANDED_COMMAND,
    CommandTooLong,
    env_mapping,
    expand,
    expand_command,
)
from spctl_agent.probes.prober import PodProber, quick_ready
from spctl_agent.protocol.probe_spec import probe_spec_of

MAPPING = {"VAR_A": "A", "VAR_B": "B", "VAR_C": "C", "VAR_REF": "$(VAR_A)", "VAR_EMPTY": ""}

CASES = [
    ("$(VAR_A)", "A"),
    ("$(VAR_A)-$(VAR_A)", "A-A"),
    ("$(VAR_A)-1", "A-1"),
    ("___$(VAR_B)___", "___B___"),
    ("___$(VAR_C)", "___C"),
    ("$(VAR_A)_$(VAR_B)_$(VAR_C)", "A_B_C"),
    ("$$(VAR_B)_$(VAR_A)", "$(VAR_B)_A"),
    ("$$(VAR_A)_$$(VAR_B)", "$(VAR_A)_$(VAR_B)"),
    ("f000-$$VAR_A", "f000-$VAR_A"),
    ("foo\\$(VAR_C)bar", "foo\\Cbar"),
    ("foo\\\\$(VAR_C)bar", "foo\\\\Cbar"),
    ("foo\\\\\\\\$(VAR_A)bar", "foo\\\\\\\\Abar"),
    ("$(VAR_A$(VAR_B))", "$(VAR_A$(VAR_B))"),
    ("$(VAR_A$(VAR_B)", "$(VAR_A$(VAR_B)"),
    ("$(VAR_REF)", "$(VAR_A)"),
    ("%%$(VAR_REF)--$(VAR_REF)%%", "%%$(VAR_A)--$(VAR_A)%%"),
    ("foo$(VAR_EMPTY)bar", "foobar"),
    ("foo$(VAR_Awhoops!", "foo$(VAR_Awhoops!"),
    ("f00__(VAR_A)__", "f00__(VAR_A)__"),
    ("$?_boo_$!", "$?_boo_$!"),
    ("$VAR_A", "$VAR_A"),
    ("$(VAR_DNE)", "$(VAR_DNE)"),
    ("$$$$$$(BIG_MONEY)", "$$$(BIG_MONEY)"),
    ("$$$$$$(VAR_A)", "$$$(VAR_A)"),
    ("$$$$$$$(GOOD_ODDS)", "$$$$(GOOD_ODDS)"),
    ("$$$$$$$(VAR_A)", "$$$A"),
    ("$VAR_A)", "$VAR_A)"),
    ("${VAR_A}", "${VAR_A}"),
    ("$(VAR_B)_______$(A", "B_______$(A"),
    ("$(VAR_C)_______$(", "C_______$("),
    ("$(VAR_A)foobarzab$", "Afoobarzab$"),
    ("foo-\\$(VAR_A", "foo-\\$(VAR_A"),
    ("--$($($($($--", "--$($($($($--"),
    ("$($($($($--foo$(", "$($($($($--foo$("),
    ("foo0--$($($($(", "foo0--$($($($("),
    ("$(foo$$var)", "$(foo$$var)"),
    ("\n", "\n"),
    # Ours: a character after $ that is not ASCII is kept whole, as Go reads one rune.
    ("$é$(VAR_A)", "$éA"),
    ("", ""),
    ("$", "$"),
]


@pytest.mark.parametrize("text,expected", CASES)
def test_expand_as_the_kubelet(text: str, expected: str) -> None:
    assert expand(text, MAPPING) == expected


def test_env_mapping_is_every_entry_later_ones_win_value_from_is_empty() -> None:
    env = [
        {"name": "PORT", "value": "80"},
        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "PORT", "value": "8080"},  # a later entry of the same name replaces it
        {"name": "EMPTY"},
        {"name": "REF", "value": "$(PORT)"},
    ]
    assert env_mapping(env) == {"PORT": "8080", "IP": "", "EMPTY": "", "REF": "$(PORT)"}
    assert expand_command(
        ["sh", "-c", "wget -q -O- http://$(IP):$(PORT)/ $(REF) $(NOPE) $$(PORT)"], env
    ) == ["sh", "-c", "wget -q -O- http://:8080/ $(PORT) $(NOPE) $(PORT)"]
    assert expand_command(None, env) == [] and expand_command(["true"], None) == ["true"]


def test_probe_spec_carries_static_env_and_the_prober_runs_the_expanded_command() -> None:
    pod = {
        "spec": {
            "containers": [
                {
                    "name": "web",
                    "env": [
                        {"name": "PORT", "value": "8080"},
                        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                    ],
                    "readinessProbe": {
                        "exec": {"command": ["sh", "-c", "wget -q 127.0.0.1:$(PORT)/$(NODE)"]}
                    },
                }
            ]
        }
    }
    spec = probe_spec_of(pod)
    assert spec is not None
    (container,) = spec["containers"]
    assert container["env"] == [{"name": "PORT", "value": "8080"}, {"name": "NODE", "value": ""}]

    class Runner:
        calls: list = []

        def exec(self, cid, command, timeout, deadline=None):
            self.calls.append(command)
            return 0, b""

    runner = Runner()
    result, _ = PodProber(spec, runner, None).run_once(
        container["readinessProbe"], {}, container, "c1", 1.0
    )
    assert result == "success"
    assert runner.calls == [["sh", "-c", "wget -q 127.0.0.1:8080/"]]
    no_env = probe_spec_of({"spec": {"containers": [{"name": "a", "readinessProbe": {}}]}})
    assert no_env is not None and "env" not in no_env["containers"][0]


def test_expansion_stops_at_the_bound_before_building_more() -> None:
    # A 1 MiB value referenced a million times would be a 1 TiB command: refused once the
    # result passes MAX_EXPANDED_COMMAND, having built no more than that.
    env = [{"name": "BIG", "value": "x" * (1 << 20)}]
    with pytest.raises(CommandTooLong, match=r"more than 1 MiB at word 3: shorten it"):
        expand_command(["sh", "-c", "$(BIG)" * (1 << 20)], env)
    with pytest.raises(CommandTooLong, match=r"at word 2"):
        expand_command(["echo", "$(BIG)", "$(BIG)"], env)


def test_a_command_up_to_the_bound_is_expanded_whole() -> None:
    env = [{"name": "V", "value": "y" * 1000}]
    words = ["echo", "$(V)" * 1000]  # 1,000,000 bytes, and "echo"
    assert expand_command(words, env) == ["echo", "y" * 1_000_000]
    assert MAX_EXPANDED_COMMAND == 1 << 20


def test_many_unclosed_references_are_one_scan() -> None:
    # "$(" with no ")" after it: each used to search to the end again (quadratic).
    text = "$(" * 2_000_000
    assert expand(text, MAPPING) == text


def test_a_command_too_long_is_that_probe_failing_with_the_reason() -> None:
    container = {
        "name": "web",
        "env": [{"name": "BIG", "value": "x" * 4096}],
        "readinessProbe": {"exec": {"command": ["sh", "-c", "$(BIG)" * 1024]}},
    }
    spec = {"containers": [container]}

    class Runner:
        calls: list = []

        def exec(self, cid, command, timeout, deadline=None):
            self.calls.append(command)
            return 0, b""

    runner = Runner()
    pod = {"containers": [{"name": "web", "state": "running", "id": "c1"}]}
    ready, why = quick_ready(spec, pod, runner)
    assert ready is False
    assert why.startswith("web: readiness probe: the command expands to more than 1 MiB")
    assert runner.calls == []
