"""What a node is, as its agent reported it. Read-only; profiles and plans decide from it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from spctl_agent.protocol.messages import read_facts_answer
from spctl_agent.protocol.pod_summary import last_exit
from spctl_agent.protocol.systemd_show import environment_file_paths, exec_start_argvs


@dataclass(frozen=True)
class Unit:
    name: str
    load_state: str
    active_state: str
    fragment_path: str
    drop_in_paths: tuple[str, ...]
    environment_files: tuple[str, ...]
    cmdline: Optional[tuple[str, ...]]
    invocation_id: str
    #: argv of each ExecStart= command, ``$VAR`` unexpanded (``systemd_show.exec_start_argvs``).
    exec_start: tuple[tuple[str, ...], ...] = ()
    #: The unit's ``Environment=`` assignments, ``KEY=value``. systemctl show prints them on
    #: one line separated by spaces and a value holding a space or newline as
    #: "[unprintable]" (src/shared/bus-print-properties.c, bus_print_property): those are
    #: left out.
    environment: tuple[str, ...] = ()

    @property
    def loaded(self) -> bool:
        return self.load_state == "loaded"

    @property
    def active(self) -> bool:
        return self.active_state == "active"

    @classmethod
    def from_agent(cls, name: str, props: Mapping[str, Any]) -> Unit:
        cmdline = props.get("cmdline")
        return cls(
            name=name,
            load_state=str(props.get("LoadState", "")),
            active_state=str(props.get("ActiveState", "")),
            fragment_path=str(props.get("FragmentPath", "")),
            drop_in_paths=tuple(str(props.get("DropInPaths", "")).split()),
            environment_files=tuple(environment_file_paths(props)),
            cmdline=tuple(cmdline) if cmdline else None,
            invocation_id=str(props.get("InvocationID", "")),
            exec_start=tuple(exec_start_argvs(props)),
            environment=tuple(
                word
                for word in str(props.get("Environment") or "").split(" ")
                if "=" in word and word != "[unprintable]"
            ),
        )


@dataclass(frozen=True)
class DirEntry:
    name: str
    type: str
    size: int = 0
    sha256: Optional[str] = None
    pod_name: Optional[str] = None

    @property
    def kubelet_reads(self) -> bool:
        """The kubelet parses every regular file whose name does not start with a dot."""
        return self.type == "file" and not self.name.startswith(".")


@dataclass(frozen=True)
class ContainerState:
    name: str
    state: str
    restarts: int
    exit_code: Optional[int]
    #: The last termination, as the kubelet's lastState (or the state itself when the
    #: container exited): exit code and reason; None when it never ended.
    last_exit_code: Optional[int] = None
    last_reason: Optional[str] = None


@dataclass(frozen=True)
class RuntimePod:
    pod: str
    namespace: str
    uid: str
    phase: str
    ready: bool
    restarts: int
    created: Optional[float]
    annotations: Mapping[str, str]
    containers: tuple[ContainerState, ...]
    not_ready: str = ""  # why a readiness probe says the pod is not ready (status's READY)


@dataclass(frozen=True)
class FileState:
    """A pod's file as the node has it (``messages.file_state``)."""

    exists: bool
    type: Optional[str] = None
    sha256: Optional[str] = None
    size: Optional[int] = None
    mode: Optional[int] = None
    owner: Optional[str] = None
    group: Optional[str] = None
    uid: Optional[int] = None
    gid: Optional[int] = None


#: fileCheckFrequency's default (pkg/kubelet/apis/config/v1beta1/defaults.go).
DEFAULT_RELIST_PERIOD = 20.0


@dataclass(frozen=True)
class NodeFacts:
    hostname: str
    os_release: Mapping[str, str]
    files: Mapping[str, Optional[str]]
    units: Mapping[str, Unit]
    dirs: Mapping[str, Optional[tuple[DirEntry, ...]]]  # None: the directory does not exist
    owned: Mapping[str, Mapping[str, Any]]
    backups: Mapping[str, tuple[str, ...]]
    runtime: Optional[str]
    runtime_error: Optional[str]
    pods: tuple[RuntimePod, ...]
    healthz: bool
    lock: Optional[Mapping[str, Any]] = None
    #: What each ``read_globs`` pattern matched, sorted.
    globs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: What each running kubelet watches, from its process (see the agent's
    #: ``kubelet.running_kubelets``): {unit: {"manifest_dir", "source", "config_changed"...}}.
    kubelets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: A transaction another run is carrying out on the node while facts were read.
    journal: Optional[Mapping[str, Any]] = None
    #: An unfinished transaction the agent finished or undid before reading these facts.
    recovered: Optional[Mapping[str, Any]] = None
    #: {directory: why root must not write pods there} for the listed directories.
    unsafe_dirs: Mapping[str, str] = field(default_factory=dict)
    #: The socket the pods were read from, and the CRI version it answered in ("v1",
    #: "v1alpha2"; None for Docker).
    runtime_endpoint: Optional[str] = None
    runtime_cri_version: Optional[str] = None
    #: The pods' files the request named (``pod_files``): {path: state}.
    pod_files: Mapping[str, FileState] = field(default_factory=dict)
    #: The pods' files spctl wrote: {path: {"pod", "sha256"}} (as ``owned`` for manifests).
    owned_files: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def unit(self, name: str) -> Optional[Unit]:
        unit = self.units.get(name)
        return unit if unit is not None and unit.loaded else None

    def file(self, path: str) -> Optional[str]:
        return self.files.get(path)

    def relist_period(self) -> float:
        """How often the kubelets re-list their manifest directory (fileCheckFrequency), the
        longest of them; 20 s (the kubelet's default) when none tells."""
        periods = [
            float(info["file_check_frequency"])
            for info in self.kubelets.values()
            if isinstance(info.get("file_check_frequency"), (int, float))
        ]
        return max(periods, default=DEFAULT_RELIST_PERIOD)

    def running_dir(self, unit: str) -> Optional[str]:
        """The directory the running kubelet of ``unit`` watches, when its process tells."""
        info = self.kubelets.get(unit) or {}
        value = info.get("manifest_dir")
        return str(value).rstrip("/") or "/" if value else None

    @property
    def busy(self) -> bool:
        """Another run held the node (its lock or its journal) while these facts were read."""
        return self.lock is not None or self.journal is not None

    def pod(self, kubelet_name: str) -> Optional[RuntimePod]:
        for pod in self.pods:
            if pod.pod == kubelet_name:
                return pod
        return None

    @classmethod
    def from_agent(cls, raw: Mapping[str, Any]) -> NodeFacts:
        """The facts of an agent's facts answer (``messages.read_facts_answer``)."""
        answer = read_facts_answer(raw)
        dirs: dict[str, Optional[tuple[DirEntry, ...]]] = {}
        for path, listing in answer["dirs"].items():
            if not listing.get("exists"):
                dirs[path] = None
                continue
            dirs[path] = tuple(
                DirEntry(
                    name=e["name"],
                    type=e.get("type", "file"),
                    size=int(e.get("size") or 0),
                    sha256=e.get("sha256"),
                    pod_name=e.get("pod_name"),
                )
                for e in listing.get("entries", [])
            )
        runtime = answer["runtime"]
        pods = tuple(
            RuntimePod(
                pod=p["pod"],
                namespace=p.get("namespace", "default"),
                uid=p.get("uid", ""),
                phase=p.get("phase", "Pending"),
                ready=bool(p.get("ready")),
                restarts=int(p.get("restarts") or 0),
                created=p.get("created"),
                annotations=p.get("annotations") or {},
                containers=tuple(_container_state(c) for c in p.get("containers", [])),
                not_ready=str(p.get("not_ready") or ""),
            )
            for p in runtime["pods"]
        )
        return cls(
            hostname=answer["hostname"],
            os_release=answer["os_release"],
            files=answer["files"],
            units={name: Unit.from_agent(name, props) for name, props in answer["units"].items()},
            dirs=dirs,
            owned=answer["owned"],
            backups={k: tuple(v) for k, v in answer["backups"].items()},
            runtime=runtime["runtime"],
            runtime_error=runtime["error"],
            runtime_endpoint=runtime["endpoint"],
            runtime_cri_version=runtime["cri_version"],
            pods=pods,
            healthz=answer["healthz"],
            lock=answer["lock"],
            globs={k: tuple(v) for k, v in answer["globs"].items()},
            kubelets=answer["kubelets"],
            journal=answer["journal"],
            recovered=answer["recovered"],
            unsafe_dirs={
                path: listing["unsafe"]
                for path, listing in answer["dirs"].items()
                if listing.get("unsafe")
            },
            pod_files={path: FileState(**state) for path, state in answer["pod_files"].items()},
            owned_files=answer["owned_files"],
            raw=raw,
        )


def _container_state(c: Mapping[str, Any]) -> ContainerState:
    """A container of a runtime pod summary (``runtime.pods.summarize``); its last exit is
    its own when it exited, else the previous instance's (``protocol.pod_summary.last_exit``)."""
    last_code, last_reason = last_exit(c)
    return ContainerState(
        c["name"],
        c["state"],
        int(c.get("restarts") or 0),
        c.get("exit_code"),
        None if last_code is None else int(last_code),
        str(last_reason) if last_reason else None,
    )
