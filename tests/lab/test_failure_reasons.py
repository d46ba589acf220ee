"""Why a deploy failed, said at once: a crashed container's last lines come with its exit
code, and a node without a CNI configuration fails a pod with the kubelet's own message."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.fakes.lab import WEB, LabSession, inventory, node_row, spctl, spctl_json, wait_until

# The container prints a line, then another (with an escape sequence a terminal would act
# on) to stderr, and exits 1. The pause between them keeps their order in a CRI log file:
# containerd copies stdout and stderr in two goroutines, so lines written at once may land
# in either order (pkg/cri/io/container_io.go).
CRASHING = WEB.replace(
    "      image: {{ image }}\n",
    "      image: {{ image }}\n"
    "      command: [/bin/sh, -c, 'echo starting; sleep 0.5; printf \"config: \\033[2Jcannot open"
    " /etc/web.conf\\n\" >&2; sleep 1; exit 1']\n",
)


@pytest.mark.parametrize("node", ["my-node2", "my-node1"], ids=["containerd", "docker"])
def test_a_crashed_container_says_why(lab: LabSession, tmp_path: Path, node: str) -> None:
    """On a containerd node the agent reads the container's CRI log file (which containerd
    writes where the kubelet's sandbox log_directory and log_path say); on a Docker node the
    Engine's logs. The table output shows the lines made inert."""
    spctl_json("deploy", "--node", node)
    path = inventory(tmp_path, "crashing", templates={"static-web": CRASHING})
    done = spctl("deploy", "--node", node, "-o", "json", "--timeout", "60", inventory=path)
    assert done.returncode == 1, done.stderr
    pod = node_row(json.loads(done.stdout), node)["pods"][0]
    assert pod["action"] == "failed" and "exit code 1" in pod["error"], pod
    (output,) = pod["output"]
    assert output["container"] == "web"
    assert output["lines"][-2:] == ["starting", "config: \x1b[2Jcannot open /etc/web.conf"]
    if lab.runtime(node) != "docker":
        # Where the kubelet has it: /var/log/pods/<ns>_<pod>_<uid>/<container>/<restart>.log
        logs = lab.out(node, "ls /var/log/pods/*/web/*.log")
        assert "/var/log/pods/default_static-web-" in logs, logs
    table = spctl("deploy", "--node", node, "--timeout", "60", inventory=path)
    assert table.returncode == 1
    assert "static-web/web wrote" in table.stderr, table.stderr
    assert "| config: \\x1b[2Jcannot open /etc/web.conf" in table.stderr, table.stderr
    assert "\x1b[2J" not in table.stderr


NET_WEB = WEB.replace("name: static-web", "name: net-web")
CNI_CONF = "/etc/cni/net.d/10-spctl-lab.conflist"


def test_a_node_without_cni_fails_a_pod_with_the_kubelets_message(
    lab: LabSession, tmp_path: Path
) -> None:
    """The kubelet refuses a pod that is not hostNetwork while the runtime's network is not
    ready (containerd without a CNI configuration): deploy fails at once with its message,
    and works again once the configuration is back."""
    node = "my-node6"
    path = inventory(tmp_path, "net", templates={"net-web": NET_WEB}, pods=["net-web"])
    since = int(time.time())
    lab.out(node, f"mv {CNI_CONF} /root/cni.conflist")
    try:
        wait_until(
            lambda: (
                "Container runtime network not ready"
                in lab.out(node, f"journalctl -u kubelet --since @{since} --no-pager")
            ),
            60,
            1,
            "the kubelet to see the runtime's network not ready",
        )
        started = time.monotonic()
        done = spctl("deploy", "--node", node, "-o", "json", "--timeout", "120", inventory=path)
        took = time.monotonic() - started
        assert done.returncode == 1, done.stderr
        pod = node_row(json.loads(done.stdout), node)["pods"][0]
        assert pod["action"] == "failed", pod
        assert (
            "network is not ready: container runtime network not ready: NetworkReady=false"
            " reason:NetworkPluginNotReady message:Network plugin returns error:"
        ) in pod["error"], pod
        assert "not settled" not in pod["error"] and took < 100, (took, pod)
        assert lab.out(node, "ls /etc/kubernetes/manifests").split().count("net-web.yaml") == 0
    finally:
        # Written, not moved back: containerd reloads its CNI config on a write, rename or
        # remove in conf_dir and ignores a create (pkg/cri/server/cni_conf_syncer.go), and
        # fsnotify reports a file moved into the directory as a create.
        lab.out(node, f"cp /root/cni.conflist {CNI_CONF} && rm /root/cni.conflist")
    tries: list[str] = []

    def deployed() -> bool:
        again = spctl("deploy", "--node", node, "--timeout", "60", inventory=path)
        tries.append(again.stderr[-600:])
        return again.returncode == 0

    try:
        wait_until(deployed, 90, 1, "net-web to deploy once the CNI configuration is back")
    except AssertionError:
        log = lab.out(node, "journalctl -u kubelet -u containerd --no-pager | tail -40")
        raise AssertionError(f"{tries[-1]}\n{log}") from None
    spctl_json("remove", "net-web", "--node", node, inventory=path)
