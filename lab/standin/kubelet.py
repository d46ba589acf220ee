"""The kubelet's sync loop: pods from the sources in, the runtime's containers out, the status
published."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

from .config import Settings
from .garbage import garbage
from .image_pulls import ImagePulls, pull_policy
from .log import QuietLog, go_quote, log
from .manifests import StaticPod
from .network import NetworkGate
from .pods import ContainerDetail, PodContainers, RuntimeContainer
from .restarts import BACKOFF_MAX, RestartBackoff, go_duration, should_restart
from .runtime import ImageNotPresent, RuntimeCallError, StartFailure
from .sources import DirectoryWatch, FileSource, URLSource
from .status import container_status, now_rfc3339, pod_phase
from .terminator import Terminator
from .volumes import VolumeError, prepare_mounts

POD_BACKOFF = 10.0  # a pod worker's back-off after a failed sync (kubelet.go backOffPeriod)
SYNC_PERIOD = 1.0  # one container listing a second: cheap enough for 50 nodes on 2 cores


def detect_host_ip() -> str:
    """The address of the default route's interface (connecting UDP sends no packet)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.255.255.255", 1))
            return probe.getsockname()[0]
    except OSError:
        return "127.0.0.1"


class Kubelet:
    """The sync loop: read the sources, compare with the engine, act, publish the status."""

    def __init__(self, settings: Settings, runtime: Any) -> None:
        self.settings, self.runtime, self.node = settings, runtime, settings.node_name
        self.host_ip = detect_host_ip()
        path, url = settings.manifest_path, settings.manifest_url
        period = settings.file_check_frequency
        self.file_source = FileSource(path, self.node, period) if path else None
        self.watch = DirectoryWatch(path) if path else None
        headers, period = settings.manifest_url_header, settings.http_check_frequency
        self.url_source = URLSource(url, headers, self.node, period) if url else None
        self.backoff = RestartBackoff(settings.backoff_base, BACKOFF_MAX)
        self.terminator = Terminator(runtime, settings.root_dir)
        self.network = NetworkGate(runtime)
        self._refused: Dict[str, float] = {}  # uid -> when its refusal was last logged
        self.quiet = QuietLog()
        self.first_sync = threading.Event()
        self.last_sync = 0.0
        self.pod_list: List[Dict[str, Any]] = []  # replaced wholesale; the HTTP threads read it
        self._stopping = threading.Event()
        self._details: Dict[Tuple[str, str], ContainerDetail] = {}  # by (container id, state)
        self._waiting: Dict[Tuple[str, str], Tuple[str, str]] = {}  # (uid, container) -> why
        self.pulls = ImagePulls()
        self._seen: Dict[str, str] = {}  # uid -> kubernetes.io/config.seen
        self._known: Dict[str, str] = {}  # uid -> full name, for the SyncLoop ADD/REMOVE lines
        self._next_relist = 0.0
        self._events: List[Tuple[str, int]] = []  # inotify's, not yet handled

    def _log(self, sev: str, msg: str, pod: StaticPod, **kv: Any) -> None:
        log(sev, "kubelet.go", msg, pod=pod.full_name, **kv)

    def _warn(self, key: Any, msg: str, pod: StaticPod, **kv: Any) -> None:
        """For conditions that repeat every second until they clear."""
        self.quiet.say(key, "E", "kubelet.go", msg, pod=pod.full_name, **kv)

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        if self.url_source:
            self.url_source.start()
        while not self._stopping.is_set():
            try:
                self._read_file_source()
                self.sync_once()
                self.quiet.clear("sync")
            except Exception as exc:  # one bad iteration must not end the loop
                self.quiet.say(
                    "sync", "E", "kubelet.go", "Sync loop iteration failed", err=repr(exc)
                )
            if self.watch:
                self._events += self.watch.wait(SYNC_PERIOD)
            else:
                self._stopping.wait(SYNC_PERIOD)

    def _read_file_source(self) -> None:
        if not self.file_source or not self.watch:
            return
        self.watch.arm()
        events, self._events = self._events, []
        if events:
            self.file_source.consume(events)
        if time.monotonic() >= self._next_relist:
            self.file_source.relist()
            self._next_relist = time.monotonic() + self.settings.file_check_frequency

    def sources_ready(self) -> bool:
        """No pod is killed before every source has answered once (the kubelet's
        sourcesReady): a restart with a slow URL must not take that URL's pods down."""
        return all(source.listed for source in (self.file_source, self.url_source) if source)

    def desired_pods(self) -> Dict[str, StaticPod]:
        desired: Dict[str, StaticPod] = {}
        for source in filter(None, (self.file_source, self.url_source)):
            for pod in source.pods:
                desired.setdefault(pod.uid, pod)
        for uid in desired.keys() - self._known.keys():
            self._seen[uid] = now_rfc3339()
            self._log("I", "SyncLoop ADD", desired[uid], source=desired[uid].source, podUID=uid)
        for uid in self._known.keys() - desired.keys():
            self._seen.pop(uid, None)
            self.quiet.clear_about(uid)  # the same pod again says again why it cannot run
            log("I", "kubelet.go", "SyncLoop REMOVE", pod=self._known[uid], podUID=uid)
        self._known = {uid: pod.full_name for uid, pod in desired.items()}
        return desired

    def observe(self) -> Dict[str, PodContainers]:
        return self.runtime.pods(self.node)

    def _update_runtime_up(self) -> None:
        """kubelet.go updateRuntimeUp: the runtime's network condition, every 5 s."""
        try:
            if not self.network.refresh():
                return
        except RuntimeCallError as exc:
            self.quiet.say(
                "runtime", "E", "kubelet.go", "Container runtime sanity check failed", err=exc
            )
            return
        self.quiet.clear("runtime")
        if self.network.error:
            networkReady = self.network.error.split(": ", 1)[-1]
            self.quiet.say(
                "network",
                "E",
                "kubelet.go",
                "Container runtime network not ready",
                networkReady=networkReady,
            )
        else:
            self.quiet.clear("network")

    def sync_once(self) -> None:
        self._update_runtime_up()
        desired, observed = self.desired_pods(), self.observe()
        for uid, pod in observed.items():
            if uid not in desired and self.sources_ready() and not self.terminator.busy(uid):
                log("I", "kubelet.go", "Killing unwanted pod", pod=pod.full_name, podUID=uid)
                self.terminator.kill_pod(uid, pod)
        changed = False
        for pod in sorted(desired.values(), key=lambda p: p.full_name):
            if self.terminator.busy(pod.uid) or self._blocked(pod, desired, observed):
                continue
            if self._refused_by_network(pod):
                continue
            try:
                changed |= self.sync_pod(pod, observed.get(pod.uid) or PodContainers())
            except (RuntimeCallError, OSError) as exc:
                self._log("E", "Error syncing pod, skipping", pod, err=exc)
        self._publish(desired, self.observe() if changed else observed)
        self.last_sync = time.monotonic()
        self.first_sync.set()

    def _refused_by_network(self, pod: StaticPod) -> bool:
        """kubelet.go SyncPod, before any sandbox: while the runtime's network is not ready
        only hostNetwork pods run. pod_workers.go logs the error and tries the pod again
        after the back-off (backOffPeriod, 10 s in kubelet.go): so the line comes again."""
        refused = self.network.refuses(pod.spec)
        if not refused:
            self._refused.pop(pod.uid, None)
            return False
        now = time.monotonic()
        if now - self._refused.get(pod.uid, now - POD_BACKOFF) >= POD_BACKOFF:
            self._refused[pod.uid] = now
            log(
                "E",
                "pod_workers.go",
                "Error syncing pod, skipping",
                err=refused,
                pod=pod.full_name,
                podUID=pod.uid,
            )
        return True

    def _blocked(self, pod: StaticPod, desired: Dict[str, Any], observed: Dict[str, Any]) -> bool:
        """A new version of a static pod waits until the old one is gone: the kubelet runs
        one static pod per full name at a time."""
        for uid, other in observed.items():
            if uid != pod.uid and uid not in desired and other.full_name == pod.full_name:
                message = "Waiting for the previous pod of the same name to terminate"
                self.quiet.say(("blocked", pod.uid), "I", "kubelet.go", message, pod=pod.full_name)
                return True
        return False

    def sync_pod(self, pod: StaticPod, current: PodContainers) -> bool:
        """Bring one desired pod's containers in line; True if anything changed."""
        if pod.spec.get("initContainers"):
            self._warn(("init", pod.uid), "The stand-in does not run init containers", pod)
        sandbox = current.sandbox
        if self._finished(pod, current):  # a finished pod keeps no sandbox, as in the kubelet
            if sandbox is not None and sandbox.alive:
                self.runtime.stop_sandbox(sandbox)
            return False
        changed = False
        if sandbox is None or not sandbox.alive:
            for c in current.everything():
                if c.alive and c.container != "POD":  # left in a dead sandbox: they restart
                    self.terminator.kill_container(c)  # in the new one
            if sandbox is not None:  # releases its network, as killPodWithSyncResult does
                self.runtime.stop_sandbox(sandbox)
            sandbox_id = self._start_sandbox(pod, sandbox.attempt + 1 if sandbox else 0)
            if sandbox_id is None:
                return False
            changed = True
        else:
            sandbox_id = sandbox.id
        for spec in pod.spec["containers"]:
            history = current.containers.get(spec["name"], [])
            changed |= self._sync_container(pod, spec, sandbox_id, history)
        return self._collect_garbage(current, sandbox_id) or changed

    def _finished(self, pod: StaticPod, current: PodContainers) -> bool:
        """Every container has exited for good (restartPolicy Never or OnFailure)."""
        for spec in pod.spec["containers"]:
            history = current.containers.get(spec["name"])
            if not history or history[0].alive:
                return False
            if should_restart(pod.restart_policy, self.detail(history[0]).exit_code):
                return False
        return True

    def _start_sandbox(self, pod: StaticPod, attempt: int) -> Optional[str]:
        annotations = pod.annotations(self._seen.get(pod.uid) or now_rfc3339())
        try:
            sandbox_id = self.runtime.run_sandbox(pod, attempt, annotations)
        except (RuntimeCallError, OSError) as exc:
            self._warn(("sandbox", pod.uid), "Failed to create pod sandbox", pod, err=exc)
            return None
        self.quiet.clear(("sandbox", pod.uid))
        self._log("I", "Created pod sandbox", pod, podUID=pod.uid, attempt=attempt)
        return sandbox_id

    def _sync_container(
        self, pod: StaticPod, spec: Dict[str, Any], sandbox_id: str, history: List[Any]
    ) -> bool:
        key, latest = (pod.uid, spec["name"]), history[0] if history else None
        if latest is not None and latest.alive:
            if latest.sandbox_id != sandbox_id:  # it outlived its sandbox: kill, then restart
                self.terminator.kill_container(latest)
            return False
        attempt = 0
        if latest is not None:
            detail = self.detail(latest)
            if self.terminator.busy(latest.id) or not should_restart(
                pod.restart_policy, detail.exit_code
            ):
                return False
            now = time.time()
            exited_at = detail.finished_epoch() or now
            if self.backoff.remaining(key, exited_at, now):
                # doBackOff (pkg/kubelet/kuberuntime/kuberuntime_manager.go): the error
                # names the back-off as Go's Duration prints it and the pod as format.Pod;
                # pod_workers.go logs the failed sync with it (container/sync_result.go).
                why = f"back-off {go_duration(self.backoff.delay(key))} restarting failed "
                why += f"container={spec['name']} pod={pod.name}_{pod.namespace}({pod.uid})"
                self._waiting[key] = ("CrashLoopBackOff", why)
                self._sync_failed(pod, spec, "CrashLoopBackOff", why)
                return False
            self.backoff.restarted(key, exited_at, now)
            attempt = latest.attempt + 1
            self._log("I", "Restarting container", pod, container=spec["name"], attempt=attempt)
        return self._start_container(pod, spec, sandbox_id, attempt)

    def _start_container(self, pod: StaticPod, spec: Dict[str, Any], sandbox: str, n: int) -> bool:
        key = (pod.uid, spec["name"])
        try:
            mounts = prepare_mounts(pod, spec, self.settings.root_dir)
        except (VolumeError, OSError) as exc:
            return self._cannot_start(
                pod, spec, "ContainerCreating", f"MountVolume.SetUp failed: {exc}", synced=False
            )
        try:
            if pull_policy(spec) == "Always":  # a pull every start, present or not
                raise ImageNotPresent(spec["image"])  # and the lab has no registry
            self.runtime.start_container(pod, spec, sandbox, n, mounts)
        except ImageNotPresent:
            failure = self.pulls.failure(pod, spec, time.monotonic())
            return self._cannot_start(pod, spec, failure.reason, failure.message)
        except StartFailure as exc:
            # A container that failed to start stays as a failed attempt: the next sync
            # restarts it.
            return self._cannot_start(pod, spec, exc.reason, exc.message) or exc.created
        except RuntimeCallError as exc:
            return self._cannot_start(pod, spec, "CreateContainerError", exc.message)
        self._waiting.pop(key, None)
        self.quiet.clear(key)
        self.quiet.clear(("sync", pod.uid, spec["name"]))
        self._log("I", "Started container", pod, container=spec["name"], attempt=n)
        return True

    def _sync_failed(self, pod: StaticPod, spec: Dict[str, Any], reason: str, why: str) -> None:
        """pod_workers.go logs the failed sync ("Error syncing pod, skipping") with
        kuberuntime's SyncResult error (pkg/kubelet/container/sync_result.go: failed to %q
        for %q with %v: %q): the reason is ErrImagePull and its kin (images/types.go),
        CreateContainerError when CreateContainer failed, RunContainerError when
        StartContainer did (kuberuntime_container.go startContainer), with the runtime's
        message, e.g. containerd's "exec: \"nope\": executable file not found in $PATH"."""
        self.quiet.say(
            ("sync", pod.uid, spec["name"]),
            "E",
            "pod_workers.go",
            "Error syncing pod, skipping",
            err=f'failed to "StartContainer" for "{spec["name"]}" with {reason}: {go_quote(why)}',
            pod=pod.full_name,
            podUID=pod.uid,
        )

    def _cannot_start(
        self, pod: StaticPod, spec: Dict[str, Any], reason: str, why: str, synced: bool = True
    ) -> bool:
        """Record why a container waits (shown in /pods) and say so; retried on each sync."""
        key = (pod.uid, spec["name"])
        self._waiting[key] = (reason, why)
        self._warn(
            key, "Failed to start container", pod, container=spec["name"], reason=reason, err=why
        )
        if synced:  # then the pod worker's line for the runtime's failure
            self._sync_failed(pod, spec, reason, why)
        return False

    def _collect_garbage(self, current: PodContainers, sandbox_id: str) -> bool:
        """The kubelet's container GC for this pod (see garbage()), run after each sync."""
        doomed = garbage(current)
        for c in doomed:
            if c.id != sandbox_id and not self.terminator.busy(c.id):
                self.runtime.remove(c)
        return bool(doomed)

    def detail(self, c: RuntimeContainer) -> ContainerDetail:
        key = (c.id, c.state)
        if key not in self._details:
            try:
                self._details[key] = self.runtime.detail(c)
            except RuntimeCallError:
                return ContainerDetail()
        return self._details[key]

    def _publish(self, desired: Dict[str, StaticPod], observed: Dict[str, PodContainers]) -> None:
        pods = sorted(desired.values(), key=lambda p: p.full_name)
        self.pod_list = [self.pod_object(pod, observed.get(pod.uid)) for pod in pods]
        live = {c.id for pod in observed.values() for c in pod.everything()}
        self._details = {k: v for k, v in self._details.items() if k[0] in live}
        keys = {(pod.uid, c["name"]) for pod in pods for c in pod.spec["containers"]}
        self._waiting = {k: v for k, v in self._waiting.items() if k in keys}
        self._refused = {k: v for k, v in self._refused.items() if k in desired}
        self.backoff.forget_except(keys)

    def pod_object(self, pod: StaticPod, current: Optional[PodContainers]) -> Dict[str, Any]:
        """The pod as the read-only port's /pods shows it."""
        current = current or PodContainers()
        statuses = []
        for spec in pod.spec["containers"]:
            history = current.containers.get(spec["name"], [])
            waiting = self._waiting.get((pod.uid, spec["name"]))
            statuses.append(
                container_status(spec, history, self.detail, waiting, self.runtime.name)
            )
        phase = pod_phase(pod.restart_policy, statuses)
        unready = [s["name"] for s in statuses if not s["ready"]]
        ready = {"type": "Ready", "status": str(phase == "Running" and not unready)}
        if unready:
            ready.update(
                reason="ContainersNotReady", message=f"containers with unready status: {unready}"
            )
        status = {"phase": phase, "hostIP": self.host_ip, "startTime": self._seen.get(pod.uid, "")}
        status["conditions"] = [ready, {**ready, "type": "ContainersReady"}]
        status["containerStatuses"] = statuses
        sandbox = current.sandbox
        pod_ip = sandbox.ip if sandbox and sandbox.alive else ""
        pod_ip = self.host_ip if pod.spec.get("hostNetwork") else pod_ip
        if pod_ip:
            status.update(podIP=pod_ip, podIPs=[{"ip": pod_ip}])
        labels = pod.manifest["metadata"].get("labels") or {}
        meta = {"name": pod.name, "namespace": pod.namespace, "uid": pod.uid, "labels": labels}
        meta["annotations"] = pod.annotations(self._seen.get(pod.uid, ""))
        return {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": meta,
            "spec": pod.spec,
            "status": status,
        }

    def healthz(self) -> Tuple[int, str]:
        if not self.first_sync.is_set():
            return 500, "[-]syncloop failed: no sync has run yet\nhealthz check failed\n"
        if time.monotonic() - self.last_sync > 120:
            return 500, "[-]syncloop failed: no sync for 2 minutes\nhealthz check failed\n"
        return 200, "ok"
