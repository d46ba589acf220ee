"""Which container runtime the kubelet uses, and its pods.

The kubelet's own endpoint comes first: ``--container-runtime-endpoint`` on its command line,
else ``containerRuntimeEndpoint`` in its ``--config`` file (KubeletConfiguration, since
1.27). Then the usual CRI sockets that exist (``cri.DEFAULT_ENDPOINTS``: containerd, CRI-O,
k3s, rke2), then the Docker Engine socket (Docker nodes whose kubelet talks to cri-dockerd,
which names and labels Docker containers as the kubelet's pods). A node may run Docker
beside a containerd kubelet: the first candidate that shows pods wins, and is asked first
for the rest of the call.
"""

import os

from ..protocol import flag_value
from ..system.files import read_text
from ..system.kubelet import yaml_setting
from .pods import summarize_all

DOCKER_SOCKET = "/var/run/docker.sock"


def kubelet_endpoint(cmdlines, read=read_text):
    """The runtime endpoint a kubelet was started with (a flag beats its config file)."""
    for cmdline in cmdlines:
        endpoint = flag_value(cmdline, "--container-runtime-endpoint")
        if endpoint:
            return endpoint
        config = flag_value(cmdline, "--config")
        if config:
            # ^containerRuntimeEndpoint:\s*['"]?([^'"\s#]+) (re.M), without importing re
            endpoint = yaml_setting(read(config) or "", "containerRuntimeEndpoint")
            if endpoint:
                return endpoint
    return None


def _cri():
    from . import cri

    return cri


def _docker_read_pods(path):
    # Imported only on a node with a Docker socket (it needs json and re).
    from . import docker

    return docker.read_pods(path)


class Source:
    """One place pods can be read from: a CRI socket, or the Docker Engine socket."""

    def __init__(self, kind, endpoint, path, read):
        self.kind = kind  # "cri" or "docker"
        self.endpoint = endpoint
        self.path = path
        self._read = read

    def read(self):
        return self._read(self.path)

    def cri_version(self):
        """The CRI version a CRI source answered in (after a read); None for Docker."""
        return _cri().spoken(self.path) if self.kind == "cri" else None


def candidates(cmdlines, exists=os.path.exists, read=read_text, cri=None, docker=None):
    """The sources to ask, in order (see the module's docstring)."""
    cri = cri or _cri()
    docker_read = docker.read_pods if docker is not None else _docker_read_pods
    found = []
    seen = set()

    def add(kind, endpoint, path, reader):
        if path and path not in seen and exists(path):
            seen.add(path)
            found.append(Source(kind, endpoint, path, reader))

    endpoint = kubelet_endpoint(cmdlines, read)
    if endpoint:
        add("cri", endpoint, cri.socket_path(endpoint), cri.read_pods)
    for default in cri.DEFAULT_ENDPOINTS:
        add("cri", default, cri.socket_path(default), cri.read_pods)
    add("docker", "unix://" + DOCKER_SOCKET, DOCKER_SOCKET, docker_read)
    return found


class Runtime:
    """The pods of the kubelet's runtime, asked of the sources in order."""

    def __init__(self, sources):
        self.sources = list(sources)
        self.answered = None  # the source of the last answer

    def container_output(self, container):
        """The last lines ``container`` (a summary's entry) wrote, bounded
        (``container_logs``), from the runtime that listed it: (lines, cut) or None."""
        from . import container_logs

        source = self.answered
        if source is None or not container.get("id"):
            return None
        if source.kind == "docker":
            lines = container_logs.docker_output(source.path, container["id"])
        else:
            lines = container_logs.cri_output(container.get("log_path"))
        if not lines:
            return None
        return container_logs.bounded(lines)

    @classmethod
    def for_kubelet(cls, cmdlines, **kwargs):
        return cls(candidates(cmdlines, **kwargs))

    def read(self):
        """The runtime state (``protocol.messages.runtime_state``) of the first source that
        shows pods, else of the first that answered, else the errors."""
        from ..protocol.messages import runtime_state

        if not self.sources:
            return runtime_state(
                runtime=None,
                endpoint=None,
                error="no container runtime found (no CRI socket, no docker socket)",
            )
        errors = []
        answers = []
        for source in self.sources:
            try:
                grouped = source.read()
            except Exception as exc:  # a runtime that does not answer is a fact, not a crash
                errors.append("%s: %s" % (source.endpoint, exc))
                continue
            answer = runtime_state(
                runtime=source.kind,
                endpoint=source.endpoint,
                pods=summarize_all(grouped),
                cri_version=source.cri_version(),
            )
            if answer["pods"]:
                self.answered = source
                # Ask this one first from now on.
                self.sources.remove(source)
                self.sources.insert(0, source)
                return answer
            answers.append(answer)
        if answers:
            self.answered = next(
                (s for s in self.sources if s.endpoint == answers[0]["endpoint"]), None
            )
            return answers[0]
        return runtime_state(runtime=None, endpoint=None, error="; ".join(errors))
