"""The running kubelet (agent/system/kubelet.py): facts from its process, not only its files:
what it was started with, whether its --config file changed after it started (then what it
read is unknown), and the node IP it reports; its config file's settings scanned without re,
as the regular expression gives them."""

from __future__ import annotations

import json
import os
import random
import re
import time

from spctl_agent.main import handle
from spctl_agent.system.kubelet import (
    go_duration,
    kubelet_node_ip,
    process_start,
    running_kubelets,
    yaml_setting,
)
from spctl_agent.system.lock import NodeLock

from tests.fakes.agent_node import make_node


def test_kubelet_node_ip_from_the_command_line() -> None:
    assert kubelet_node_ip([["kubelet", "--node-ip=10.0.0.5,fd00::5"]]) == "10.0.0.5"
    assert kubelet_node_ip([["kubelet", "--node-ip", "fd00::5"]]) == "fd00::5"
    assert kubelet_node_ip([["kubelet", "--node-ip=0.0.0.0"]]) is None  # only a family
    assert kubelet_node_ip([["kubelet", "--hostname-override=10.0.0.7"]]) == "10.0.0.7"
    assert kubelet_node_ip([["kubelet", "--hostname-override=node1"]]) is None
    assert kubelet_node_ip([]) is None


def unit(*cmdline: str) -> dict:
    return {"kubelet": {"MainPID": "4242", "cmdline": list(cmdline)}}


def test_process_start_reads_proc():
    started = process_start(os.getpid())
    assert started is not None and time.time() - 3600 < started <= time.time() + 1


def test_a_flag_beats_the_config_file(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("staticPodPath: /etc/kubernetes/manifests\n")
    found = running_kubelets(
        unit("kubelet", f"--config={config}", "--pod-manifest-path=/srv/pods/"),
        started=lambda pid: time.time(),
    )
    assert found["kubelet"]["manifest_dir"] == "/srv/pods"
    assert found["kubelet"]["source"] == "flag"


def test_a_config_file_changed_after_the_start_is_not_trusted(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("staticPodPath: /etc/kubernetes/manifests\n")
    mtime = config.stat().st_mtime
    before = running_kubelets(unit("kubelet", f"--config={config}"), started=lambda p: mtime + 5)
    assert before["kubelet"]["manifest_dir"] == "/etc/kubernetes/manifests"
    assert before["kubelet"]["config_changed"] is False
    after = running_kubelets(unit("kubelet", f"--config={config}"), started=lambda p: mtime - 5)
    assert after["kubelet"]["manifest_dir"] is None
    assert after["kubelet"]["config_changed"] is True


def test_go_duration() -> None:
    # time.ParseDuration's syntax, as the kubelet's flags and config file take it.
    assert [go_duration(t) for t in ("20s", "1m30s", "500ms", "0", "0s", "1.5h")] == [
        20.0,
        90.0,
        0.5,
        0.0,
        0.0,
        5400.0,
    ]
    assert [go_duration(t) for t in ("20", "", "s", "1x", "1..2s")] == [None] * 5


def test_the_re_list_period(tmp_path):
    """fileCheckFrequency: the flag as it is, else the config file's with zero and absent
    defaulted to 20 s (pkg/kubelet/apis/config/v1beta1/defaults.go; kubeadm writes 0s)."""
    config = tmp_path / "config.yaml"

    def period(text: str, *flags: str, started: float = 0.0) -> object:
        config.write_text(text)
        mtime = config.stat().st_mtime
        found = running_kubelets(
            unit("kubelet", f"--config={config}", *flags), started=lambda p: mtime + 5 - started
        )
        return found["kubelet"]["file_check_frequency"]

    assert period("staticPodPath: /m\n") == 20.0
    assert period("staticPodPath: /m\nfileCheckFrequency: 0s\n") == 20.0
    assert period("fileCheckFrequency: 1m\n") == 60.0
    assert period("fileCheckFrequency: 1m\n", "--file-check-frequency=5s") == 5.0
    assert period("fileCheckFrequency: 1m\n", "--pod-manifest-path=/srv") == 60.0
    assert period("fileCheckFrequency: 1m\n", started=10.0) is None  # changed since
    found = running_kubelets(unit("kubelet", "--pod-manifest-path=/srv"), started=lambda p: 0.0)
    assert found["kubelet"]["file_check_frequency"] == 20.0


def test_facts_leave_a_transaction_in_progress_alone(tmp_path):
    node = make_node(tmp_path)
    lock = NodeLock(node, "deploy by alice", 0)
    lock.__enter__()
    try:
        journal = tmp_path / "state" / "journal.json"
        record = {
            "version": 1,
            "id": "abc",
            "holder": "deploy by alice",
            "phase": "begun",
            "files": [],
            "node_name": "n1",
        }
        journal.write_text(json.dumps(record))
        answer = handle({"op": "facts"}, make_node(tmp_path))
        assert answer["ok"], answer
        assert answer["recovered"] is None
        assert answer["journal"]["holder"] == "deploy by alice"
        assert journal.exists()  # the running transaction owns it
    finally:
        lock.__exit__(None, None, None)
    answer = handle({"op": "facts"}, make_node(tmp_path))
    assert answer["recovered"]["action"] == "rolled back" and not journal.exists()


def _random_texts(alphabet, count, seed=7):
    rng = random.Random(seed)
    for _ in range(count):
        yield "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))


def test_yaml_setting_matches_the_pattern():
    pattern = re.compile(r"^staticPodPath:\s*['\"]?([^'\"\s#]+)", re.M)
    alphabet = ["staticPodPath:", "\n", " ", "'", '"', "#", "/etc/k", "x", "\t", "\u00a0"]
    alphabet.append("staticPodPath: /etc/kubernetes/manifests # the default\n")
    for sample in _random_texts(alphabet, 30000):
        match = pattern.search(sample)
        assert yaml_setting(sample, "staticPodPath") == (match and match.group(1))
