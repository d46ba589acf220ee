"""A change of source (directory -> URL) in the agent: the kubelet is stopped before the
pod's file leaves the directory and started with the URL configured, so no running kubelet
sees the pod from both sources; the http pod is what is waited for; a failure puts the file
and the configuration back, the kubelet stopped meanwhile."""

from __future__ import annotations

from pathlib import Path

from spctl_agent.main import handle

from tests.fakes.agent_node import FakeRuntime, make_node, pod
from tests.fakes.apply_request import OLD_MANIFEST, Kubelet, request, sha

URL = "http://10.0.0.5:8080/nodes/n1/pods.json"
OLD_FLAGS = b"--pod-manifest-path=/m\n"
URL_FLAGS = b"--pod-manifest-path=/m --manifest-url=" + URL.encode() + b"\n"


class SwitchingKubelet(Kubelet):
    """Records, at each stop and start, whether the pod's file exists, and runs the pod from
    the sources its flags name (a file pod for the file, an http pod for the URL)."""

    def __init__(self, flags_file: Path, manifest: Path, http_runs=True) -> None:
        super().__init__(flags_file)
        self.manifest = manifest
        self.http_runs = http_runs
        self.events: list[tuple[str, bool]] = []

    def stop(self, unit):
        super().stop(unit)
        self.events.append(("stop", self.manifest.exists()))

    def restart(self, unit, daemon_reload=False):
        super().restart(unit, daemon_reload)
        self.events.append(("start", self.manifest.exists()))

    def pods(self, _reads):
        running = []
        if self.manifest.exists():
            running.append(pod(uid="file-uid"))
        if b"--manifest-url" in self.flags and self.active:
            running.append(
                pod(
                    uid="http-uid",
                    source="http",
                    phase="Running" if self.http_runs else "Failed",
                    exit_code=1,
                )
            )
        return running


def _request(root: Path, flags: Path) -> dict:
    return request(
        root,
        switch=True,
        kubelet={
            "unit": "kubelet",
            "timeout": 20,
            "flag": ["--manifest-url", URL],
            "files": [
                {
                    "path": str(flags),
                    "content": URL_FLAGS.decode(),
                    "expected_sha256": sha(OLD_FLAGS),
                    "mode": 0o600,
                }
            ],
        },
        changes=[
            {
                "pod": "static-web",
                "action": "remove",
                "file": "static-web.yaml",
                "content": "",
                "expected_sha256": sha(OLD_MANIFEST),
            }
        ],
        wait_running=[{"pod": "static-web", "sources": ["http"]}],
    )


def _setup(tmp_path: Path, http_runs=True):
    (tmp_path / "manifests").mkdir()
    live = tmp_path / "manifests" / "static-web.yaml"
    live.write_bytes(OLD_MANIFEST)
    (tmp_path / "etc").mkdir()
    flags = tmp_path / "etc" / "kubelet-flags"
    flags.write_bytes(OLD_FLAGS)
    kubelet = SwitchingKubelet(flags, live, http_runs)
    node = make_node(
        tmp_path,
        systemd=kubelet,
        healthz=kubelet.healthy,
        runtime=FakeRuntime(script=kubelet.pods),
    )
    return node, kubelet, live, flags


def test_file_to_url_removes_the_file_while_the_kubelet_is_stopped(tmp_path):
    node, kubelet, live, flags = _setup(tmp_path)
    answer = handle(_request(tmp_path, flags), node)
    assert answer["ok"], answer
    # stopped with the file there, started without it: never both sources at once
    assert kubelet.events == [("stop", True), ("start", False)]
    assert not live.exists()
    assert flags.read_bytes() == URL_FLAGS
    assert flags.stat().st_mode & 0o777 == 0o600
    waited = [p for p in answer["pods"] if p["action"] == "unchanged"]
    assert waited and waited[0]["ok"] and waited[0]["phase"] == "Running"


def test_a_failed_switch_puts_the_file_back_with_the_kubelet_stopped(tmp_path):
    node, kubelet, live, flags = _setup(tmp_path, http_runs=False)
    answer = handle(_request(tmp_path, flags), node)
    assert not answer.get("ok") or not all(p["ok"] for p in answer["pods"]), answer
    assert live.read_bytes() == OLD_MANIFEST
    assert flags.read_bytes() == OLD_FLAGS and kubelet.flags == OLD_FLAGS
    # the way back: stopped (file absent), file restored, then started on the old flags
    assert kubelet.events[:2] == [("stop", True), ("start", False)]
    assert kubelet.events[2:] == [("stop", False), ("start", True)]
