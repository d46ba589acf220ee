"""The stand-in's program: the command line and configuration to a running kubelet, on the
runtime its endpoint names."""

from __future__ import annotations

import os
import signal
import socket
import sys
from typing import Any, List, Mapping, Optional

from .config import ConfigError, Settings, build_settings, parse_release, resolve_feature_gates
from .cri import client as cri_client
from .docker import DockerRuntime
from .docker_api import DockerClient
from .flags import HONOURED_FLAGS, IGNORED_FLAGS, FlagError, parse_flags
from .kubelet import Kubelet
from .kuberuntime import CRIRuntime
from .log import log, set_format
from .release import FEATURE_GATES, version_text
from .server import serve_http

# Endpoints that mean "Docker through cri-dockerd": the lab runs dockerd directly there.
DOCKER_ENDPOINTS = ("unix:///var/run/cri-dockerd.sock", "unix:///run/cri-dockerd.sock")


def make_runtime(settings: Settings, env: Mapping[str, str]) -> Any:
    """The CRI on the endpoint the kubelet is given; Docker when that endpoint is cri-dockerd's
    or none is set (the lab's Fedora node runs dockerd, as in the seed walkthrough)."""
    endpoint = settings.runtime_endpoint
    if not endpoint:  # the kubelet's own dockershim (before 1.24): the no-op network plugin
        return DockerRuntime(DockerClient(env))
    if endpoint in DOCKER_ENDPOINTS:  # cri-dockerd: its default CNI network plugin
        return DockerRuntime(DockerClient(env), network_plugin="cni")
    try:
        return CRIRuntime(cri_client.CRIClient(endpoint))
    except cri_client.CRIError as exc:
        raise ConfigError(f"container runtime endpoint {endpoint}: {exc.message}") from None


def main(argv: Optional[List[str]] = None, env: Optional[Mapping[str, str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    env = os.environ if env is None else env
    try:
        flags = parse_flags(argv)
    except FlagError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    if flags.get("help"):
        print("Usage: kubelet [flags]   (the spctl lab's kubelet stand-in, not a kubelet)")
        print("Honoured flags: --" + " --".join(HONOURED_FLAGS))
        print("Accepted and ignored: --" + " --".join(IGNORED_FLAGS))
        return 0
    try:
        if flags.get("version", "false") != "false":
            print(f"Kubernetes {version_text(parse_release(env.get('KUBELET_STANDIN_RELEASE')))}")
            return 0
        settings = build_settings(flags, env, socket.gethostname())
        set_format(settings.logging_format)  # what comes before is in text, as the kubelet's
        FEATURE_GATES.update(resolve_feature_gates(settings))
        kubelet = Kubelet(settings, make_runtime(settings, env))
    except ConfigError as exc:
        log("E", "run.go", "command failed", err=exc)
        return 1
    if settings.manifest_path and settings.file_check_frequency <= 0:
        # A --file-check-frequency=0 flag is not defaulted (only the config file is):
        # pkg/kubelet/config/file.go run() calls time.NewTicker(s.period), which panics.
        print("panic: non-positive interval for NewTicker", file=sys.stderr)
        return 2
    # Exit 0 and leave the pods running, as a real kubelet does when it is restarted.
    signal.signal(signal.SIGTERM, lambda *_: kubelet.stop())
    signal.signal(signal.SIGINT, lambda *_: kubelet.stop())
    if settings.healthz_port > 0:
        serve_http(kubelet, settings.healthz_bind_address, settings.healthz_port, with_pods=False)
    if settings.read_only_port > 0:
        serve_http(kubelet, "0.0.0.0", settings.read_only_port, with_pods=True)  # noqa: S104 (as the kubelet)
    log(
        "I",
        "server.go",
        "spctl lab kubelet stand-in starting (tests and demos only, not a kubelet)",
        version=version_text(settings.release),
        featureGates=FEATURE_GATES,
        node=settings.node_name,
        staticPodPath=settings.manifest_path,
        staticPodURL=settings.manifest_url,
        fileCheckFrequency=settings.file_check_frequency,
        httpCheckFrequency=settings.http_check_frequency,
        loggingFormat=settings.logging_format,
        backoffBase=settings.backoff_base,
        runtime=kubelet.runtime.name,
        containerRuntimeEndpoint=settings.runtime_endpoint,
    )
    kubelet.run()
    log("I", "server.go", "Stopping; pods are left running")
    return 0
