"""The stand-in's program (standin/main.py): the runtime follows the container runtime
endpoint."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from spctl_lab.standin.config import build_settings
from spctl_lab.standin.cri import client as cri_client
from spctl_lab.standin.docker import DockerRuntime
from spctl_lab.standin.flags import parse_flags
from spctl_lab.standin.kuberuntime import CRIRuntime
from spctl_lab.standin.main import make_runtime

from tests.fakes.standin import NODE


@pytest.mark.parametrize(
    "argv, config, runtime",
    [
        ([], "", "docker"),  # the seed's Fedora node sets none
        (["--container-runtime-endpoint=unix:///var/run/cri-dockerd.sock"], "", "docker"),
        (["--container-runtime-endpoint=unix:///run/containerd/containerd.sock"], "", "cri"),
        ([], "containerRuntimeEndpoint: unix:///run/k3s/containerd/containerd.sock\n", "cri"),
    ],
)
def test_runtime_follows_the_container_runtime_endpoint(
    tmp_path, monkeypatch, argv, config, runtime
) -> None:
    monkeypatch.setattr(
        cri_client, "CRIClient", lambda endpoint: SimpleNamespace(endpoint=endpoint)
    )
    if config:
        path = tmp_path / "config.yaml"
        path.write_text(
            "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n" + config
        )
        argv = [*argv, f"--config={path}"]
    settings = build_settings(parse_flags(argv), {}, NODE)
    made = make_runtime(settings, {})
    assert isinstance(made, DockerRuntime if runtime == "docker" else CRIRuntime)
    if runtime == "cri":
        assert made.cri.endpoint == settings.runtime_endpoint
        assert made.cri.endpoint.endswith("/containerd.sock")
