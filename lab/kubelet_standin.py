#!/usr/bin/python3
"""Kubelet stand-in for the spctl lab: for tests and demos only. This is NOT a kubelet.

No real kubelet can be installed in the lab, so every lab node gets this program as
/usr/bin/kubelet (the lab's k3s wrapper execs it too). It mirrors the kubelet's documented
static-pod behaviour where a tool managing static pods can observe it:

- the command line (pflag rules; an unknown flag is fatal) and the KubeletConfiguration
  file, flags overriding config fields;
- the sources: a manifest directory (or file), re-listed every fileCheckFrequency and
  watched with inotify, and a manifest URL polled every httpCheckFrequency;
- the file rules: dotfiles ignored, no extension filter, no recursion, 10 MiB limit, a file
  that fails to parse dropped on the next re-list, duplicate pod names, and the
  PreventStaticPodAPIReferences restrictions;
- pod names `<name>-<node>`, content-hash UIDs, the kubernetes.io/config.* annotations;
- pods run through the node's runtime: containerd through the CRI (gRPC on the socket that
  --container-runtime-endpoint / containerRuntimeEndpoint names), with the kubelet's labels,
  annotations and attempts; or, when the endpoint names cri-dockerd (or none is set: the
  seed walkthrough's Fedora node), the node's own dockerd with cri-dockerd's container names
  and labels. Either way: restartPolicy with the kubelet's back-off, a new sandbox (attempt
  + 1) when the sandbox dies, the kubelet's container garbage collection (a dead sandbox is
  kept while it holds a dead container), replacement when the content changes, removal when
  the file goes, adoption of running pods when the stand-in restarts;
- /healthz, and /pods on the read-only port.

Images: the lab has no registry. With imagePullPolicy IfNotPresent (the default for a tagged
image other than :latest) an image present in the node's runtime is used; a pull, which
Always (the default for :latest or no tag) makes at every start and IfNotPresent makes for a
missing image, fails (ErrImagePull, then ImagePullBackOff while the pull back-off lasts);
Never with a missing image is ErrImageNeverPull. Each is logged as pod_workers.go logs a
failed sync. The lab's pod image is therefore tagged 1.0, not latest.
It has no API server client (no mirror pods), no probes, no init containers,
no hostPort mapping, no resource limits and no DNS setup. Standard library and PyYAML, and
for the CRI python3-grpcio through standin_cri.py (installed beside this file);
Python 3.9 or newer (Debian bookworm has 3.11).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import stat
import struct
import sys
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import yaml

# standin_cri.py lives beside this file (on lab nodes /usr/bin/kubelet is a symlink to it).
sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import standin_cri as cri  # noqa: E402

# The kubelet release whose behaviour is mirrored: 1.34, or the older minor release the lab
# sets in KUBELET_STANDIN_RELEASE (1.29 to 1.33) to stand in for a node not yet upgraded. What
# the stand-in models differs between those releases in one place: the feature gate below.
RELEASE = (1, 34)
OLDEST_RELEASE = (1, 29)
# RelaxedEnvironmentVariableValidation (pkg/features/kube_features.go; the feature-gates page
# of kubernetes/website): alpha, off by default, in 1.30-1.31; beta, on, in 1.32-1.33; GA and
# locked on from 1.34. Off, environment variable names must be C-like (IsEnvVarName).
RELAXED_ENV = "RelaxedEnvironmentVariableValidation"
# The process-wide gates, as utilfeature.DefaultFeatureGate is in the kubelet: main() sets
# them from the release and the node's configuration before any manifest is read.
FEATURE_GATES: Dict[str, bool] = {RELAXED_ENV: True}
MAX_MANIFEST_BYTES = 10 << 20  # the kubelet's maxConfigLength
DEFAULT_CHECK_FREQUENCY = 20.0  # fileCheckFrequency and httpCheckFrequency defaults
URL_TIMEOUT = 10.0  # the kubelet's HTTP source client timeout
SYNC_PERIOD = 1.0  # one container listing a second: cheap enough for 50 nodes on 2 cores
BACKOFF_INITIAL = 10.0  # the kubelet's restart back-off starts at 10 s and doubles ...
BACKOFF_MAX = 300.0  # ... up to 5 minutes
DEFAULT_GRACE = 30  # terminationGracePeriodSeconds default
MAX_STOP_GRACE = 120  # cap on `docker stop -t`, so a lab pod never takes ages to go away
SANDBOX_IMAGE = "spctl-lab/pause:latest"
SANDBOX_COMMAND = ["/bin/sleep", "2147483647"]  # holds the pod's network namespace, like pause
GRACE_LABEL = "annotation.io.kubernetes.pod.terminationGracePeriod"
POD_LOGS_DIR = "/var/log/pods"  # the kubelet's podLogsRootDirectory
# Endpoints that mean "Docker through cri-dockerd": the lab runs dockerd directly there.
DOCKER_ENDPOINTS = ("unix:///var/run/cri-dockerd.sock", "unix:///run/cri-dockerd.sock")

# -- command line ---------------------------------------------------------------------------


def words(text: str) -> List[str]:
    """Keeps long name tables short: words("a b c") == ["a", "b", "c"]."""
    return text.split()


# Flags the stand-in acts on, with their pflag value kind.
HONOURED_FLAGS: Dict[str, str] = {
    "pod-manifest-path": "string",
    "config": "string",
    "config-dir": "string",
    "manifest-url": "string",
    "manifest-url-header": "multimap",
    "hostname-override": "string",
    "file-check-frequency": "duration",
    "http-check-frequency": "duration",
    "healthz-port": "int",
    "healthz-bind-address": "string",
    "read-only-port": "int",
    "root-dir": "string",
    "container-runtime-endpoint": "string",
    "feature-gates": "gates",
}

# Flags that real nodes' unit and environment files pass (Fedora's kubernetes-node rpm,
# kubeadm's drop-in and kubeadm-flags.env, ...): accepted, type-checked and ignored. This is
# the one list to extend. Flags the real kubelet dropped (--network-plugin, gone in 1.24)
# stay out, so a tool that writes one sees the kubelet fail, as on a real node: so do the klog
# flags removed in 1.26 (KEP-2845; the kubelet registers only -v and --vmodule of klog's
# flags since, cmd/kubelet/app/options/globalflags.go), --logtostderr among them: the
# kubelet exits with "unknown flag: --logtostderr".
IGNORED_FLAGS: Dict[str, str] = {
    "kubeconfig": "string",
    "bootstrap-kubeconfig": "string",
    "pod-infra-container-image": "string",
    "cluster-dns": "string",
    "cluster-domain": "string",
    "address": "string",
    "port": "int",
    "v": "int",
    "node-ip": "string",
    "node-labels": "string",
    "fail-swap-on": "bool",
    "cgroup-driver": "string",
    "register-node": "bool",
    "max-pods": "int",
    "resolv-conf": "string",
    "cert-dir": "string",
    "runtime-request-timeout": "duration",
    "rotate-certificates": "bool",
}

# Handled by main(); "optional" takes a value only as --version=raw.
META_FLAGS: Dict[str, str] = {"help": "bool", "version": "optional"}
SHORTHANDS = {"h": "help", "v": "v"}


class FlagError(Exception):
    """A command line the real kubelet refuses; the message is pflag's."""


class ConfigError(Exception):
    """A configuration the real kubelet refuses to start with."""


def log(sev: str, where: str, msg: str, **kv: Any) -> None:
    """A klog-style line on stderr, which journald collects:
    E1128 12:00:00.000000    42 file.go] "Could not process manifest file" path="..." err="..."
    """
    fields = "".join(f" {key}={_log_value(value)}" for key, value in kv.items())
    stamp = f"{datetime.now():%m%d %H:%M:%S.%f}"
    print(f'{sev}{stamp} {os.getpid():>7} {where}] "{msg}"{fields}', file=sys.stderr, flush=True)


def _log_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, BaseException):
        value = str(value)
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


class QuietLog:
    """Logs a recurring condition when it appears or changes, then once a minute while it
    lasts: the lab re-lists every second, and one broken file must not flood the journal."""

    def __init__(self) -> None:
        self._last: Dict[Any, Tuple[str, float]] = {}

    def say(self, key: Any, sev: str, where: str, msg: str, **kv: Any) -> None:
        text, now = msg + repr(sorted(kv.items())), time.monotonic()
        last = self._last.get(key)
        if last is None or last[0] != text or now - last[1] >= 60:
            self._last[key] = (text, now)
            log(sev, where, msg, **kv)

    def clear(self, key: Any) -> None:
        """The condition is over: its next occurrence is logged at once."""
        self._last.pop(key, None)


_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1, "m": 60}
_DURATION_UNITS["h"] = 3600


def parse_go_duration(text: str) -> float:
    """Seconds in a Go duration (time.ParseDuration): "20s", "1m30s", "500ms", "0"."""
    body = text[1:] if text[:1] in ("+", "-") else text
    if body == "0":
        return 0.0
    total, pos = 0.0, 0
    while pos < len(body) or not body:
        match = _DURATION_PART.match(body, pos)
        if match is None:
            if re.fullmatch(r"\d+\.?\d*|\.\d+", body[pos:]):
                raise ValueError(f'time: missing unit in duration "{text}"')
            raise ValueError(f'time: invalid duration "{text}"')
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    return -total if text.startswith("-") else total


def parse_go_bool(text: str) -> bool:
    """strconv.ParseBool, which pflag applies to --flag=value on booleans."""
    if text in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if text in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise ValueError(f'strconv.ParseBool: parsing "{text}": invalid syntax')


def parse_header_pairs(text: str, into: Dict[str, List[str]]) -> Dict[str, List[str]]:
    """--manifest-url-header "Key:Value" or "Key:Value,Key2:Value2"; repeats add values."""
    for pair in filter(None, text.split(",")):
        key, sep, value = pair.partition(":")
        if not sep or not key.strip():
            raise ValueError(f"malformed pair, expect string:string: {pair!r}")
        into.setdefault(key.strip(), []).append(value.strip())
    return into


def parse_feature_gates(text: str, into: Dict[str, bool]) -> Dict[str, bool]:
    """--feature-gates=A=true,B=false, as component-base/featuregate's Set parses it."""
    for pair in text.split(","):
        pair = pair.strip()
        if not pair:
            continue
        key, has_value, value = pair.partition("=")
        if not has_value:
            raise ValueError(f"missing bool value for {key.strip()}")
        try:
            into[key.strip()] = parse_go_bool(value.strip())
        except ValueError as exc:
            raise ValueError(f"invalid value of {key.strip()}={value.strip()}, err: {exc}") from None
    return into


def _convert_flag(name: str, kind: str, value: str, previous: Any) -> Any:
    try:
        if kind == "bool":
            return parse_go_bool(value)
        if kind == "int":
            if not re.fullmatch(r"[+-]?\d+", value):
                raise ValueError(f'strconv.ParseInt: parsing "{value}": invalid syntax')
            return int(value)
        if kind == "duration":
            return parse_go_duration(value)
        if kind == "multimap":  # the first use replaces the config field, later ones add
            return parse_header_pairs(value, previous if isinstance(previous, dict) else {})
        if kind == "gates":
            return parse_feature_gates(value, previous if isinstance(previous, dict) else {})
    except ValueError as exc:
        raise FlagError(f'invalid argument "{value}" for "--{name}" flag: {exc}') from None
    return value


def parse_flags(argv: List[str]) -> Dict[str, Any]:
    """The command line by pflag's rules, as {flag: typed value}. `_` in a name reads as `-`
    (the kubelet's normalization). FlagError carries pflag's message."""
    values: Dict[str, Any] = {}
    args = iter(argv)
    for arg in args:
        if arg == "--":
            rest = list(args)
            if rest:
                raise FlagError(f'unknown command "{rest[0]}" for "kubelet"')
            break
        if arg.startswith("--"):
            name, has_value, value = arg[2:].partition("=")
            key = name.replace("_", "-")
        elif arg.startswith("-") and len(arg) > 1:
            name, has_value, value = arg[1:].partition("=")
            if name not in SHORTHANDS:
                raise FlagError(f"unknown shorthand flag: {name[0]!r} in {arg}")
            key = SHORTHANDS[name]
        else:
            raise FlagError(f'unknown command "{arg}" for "kubelet"')
        kind = HONOURED_FLAGS.get(key) or IGNORED_FLAGS.get(key) or META_FLAGS.get(key)
        if kind is None:
            raise FlagError(f"unknown flag: --{name}")
        if not has_value:
            value = "true" if kind in ("bool", "optional") else next(args, None)
            if value is None:
                raise FlagError(f"flag needs an argument: --{name}")
        values[key] = _convert_flag(key, kind, value, values.get(key))
    return values


# -- configuration --------------------------------------------------------------------------


@dataclass
class Settings:
    node_name: str
    manifest_path: str = ""
    manifest_url: str = ""
    manifest_url_header: Dict[str, List[str]] = field(default_factory=dict)
    file_check_frequency: float = DEFAULT_CHECK_FREQUENCY
    http_check_frequency: float = DEFAULT_CHECK_FREQUENCY
    healthz_port: int = 10248
    healthz_bind_address: str = "127.0.0.1"
    read_only_port: int = 0
    root_dir: str = "/var/lib/kubelet"
    backoff_base: float = BACKOFF_INITIAL
    runtime_endpoint: str = ""
    release: Tuple[int, int] = RELEASE
    feature_gates: Dict[str, bool] = field(default_factory=dict)  # as set by config and flags


# KubeletConfiguration field -> (Settings attribute, kind); flag -> Settings attribute.
CONFIG_FIELDS: Dict[str, Tuple[str, str]] = {
    "staticPodPath": ("manifest_path", "path"),
    "staticPodURL": ("manifest_url", "string"),
    "staticPodURLHeader": ("manifest_url_header", "multimap"),
    "fileCheckFrequency": ("file_check_frequency", "duration"),
    "httpCheckFrequency": ("http_check_frequency", "duration"),
    "healthzPort": ("healthz_port", "int"),
    "healthzBindAddress": ("healthz_bind_address", "string"),
    "readOnlyPort": ("read_only_port", "int"),
    "containerRuntimeEndpoint": ("runtime_endpoint", "string"),
    "featureGates": ("feature_gates", "gates"),
}
FLAG_SETTINGS: Dict[str, str] = {
    "pod-manifest-path": "manifest_path",
    "manifest-url": "manifest_url",
    "manifest-url-header": "manifest_url_header",
    "file-check-frequency": "file_check_frequency",
    "http-check-frequency": "http_check_frequency",
    "healthz-port": "healthz_port",
    "healthz-bind-address": "healthz_bind_address",
    "read-only-port": "read_only_port",
    "root-dir": "root_dir",
    "container-runtime-endpoint": "runtime_endpoint",
    "feature-gates": "feature_gates",  # replaces the config's map, as cliflag.MapStringBool
}

# Real fields the stand-in has no use for (kubeadm writes most of them); any other field
# draws an "unknown field" warning, as the kubelet's lenient decoder gives.
CONFIG_FIELDS_IGNORED = frozenset(
    words(
        "apiVersion kind address port enableServer authentication authorization cgroupDriver "
        "cgroupRoot clusterDNS clusterDomain cpuManagerPolicy "
        "cpuManagerReconcilePeriod evictionHard evictionPressureTransitionPeriod failSwapOn "
        "imageGCHighThresholdPercent imageGCLowThresholdPercent imageMaximumGCAge "
        "imageMinimumGCAge kubeReserved logging maxPods memorySwap nodeStatusReportFrequency "
        "nodeStatusUpdateFrequency podPidsLimit providerID registerNode resolvConf "
        "rotateCertificates runtimeRequestTimeout serializeImagePulls serverTLSBootstrap "
        "shutdownGracePeriod shutdownGracePeriodCriticalPods streamingConnectionIdleTimeout "
        "syncFrequency systemReserved tlsCertFile tlsPrivateKeyFile volumeStatsAggPeriod"
    )
)


def load_kubelet_config(path: str) -> Dict[str, Any]:
    """The --config file; ConfigError unless it is a readable KubeletConfiguration."""
    prefix = f"failed to load kubelet config file, path: {path}, error:"
    try:
        with open(path, "rb") as fh:
            doc = yaml.safe_load(fh.read())
    except OSError as exc:
        raise ConfigError(
            f'{prefix} failed to read kubelet config file "{path}": {exc.strerror}'
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{prefix} {exc}") from None
    if not isinstance(doc, dict) or doc.get("kind") != "KubeletConfiguration":
        raise ConfigError(f"{prefix} not a KubeletConfiguration")
    if not str(doc.get("apiVersion", "")).startswith("kubelet.config.k8s.io/"):
        raise ConfigError(f"{prefix} apiVersion is not kubelet.config.k8s.io/v1beta1")
    for key in doc.keys() - CONFIG_FIELDS.keys() - CONFIG_FIELDS_IGNORED:
        log("W", "codec.go", "Unknown field in kubelet config file", path=path, field=key)
    return doc


def _config_value(name: str, kind: str, value: Any, config_dir: str) -> Any:
    """One config field, typed as the kubelet's decoder would type it, or ConfigError."""
    expected = {"int": int, "multimap": dict, "gates": dict}.get(kind, str)
    if not isinstance(value, expected) or isinstance(value, bool):
        raise ConfigError(f"kubelet config field {name}: unexpected value {value!r}")
    if kind == "duration":
        try:
            return parse_go_duration(value)
        except ValueError as exc:
            raise ConfigError(f"kubelet config field {name}: {exc}") from None
    if kind == "path" and value:  # relative paths are relative to the config file
        return os.path.join(config_dir, value)
    if kind == "multimap":
        return {
            str(k): [str(v) for v in (vs if isinstance(vs, list) else [vs])]
            for k, vs in value.items()
        }
    if kind == "gates":  # map[string]bool
        if not all(isinstance(v, bool) for v in value.values()):
            raise ConfigError(f"kubelet config field {name}: values must be true or false")
        return {str(k): v for k, v in value.items()}
    return value


def build_settings(flags: Mapping[str, Any], env: Mapping[str, str], hostname: str) -> Settings:
    """Defaults, then the lab's env default, then the config file, then flags (which win)."""
    node = (flags.get("hostname-override") or hostname).strip().lower()
    if not node:
        raise ConfigError("empty hostname is invalid")
    settings = Settings(node_name=node, release=parse_release(env.get("KUBELET_STANDIN_RELEASE")))
    # Lab-only knobs for speed. The first replaces the 20 s *default* only: a config field
    # or a flag still wins. The second replaces the real 10 s back-off base.
    for var, attr in (
        ("KUBELET_STANDIN_FILE_CHECK_FREQUENCY", "file_check_frequency"),
        ("KUBELET_STANDIN_BACKOFF_BASE", "backoff_base"),
    ):
        if env.get(var):
            try:
                setattr(settings, attr, _seconds(env[var]))
            except ValueError as exc:
                log("W", "server.go", f"Ignoring {var}", err=exc)
    if flags.get("config"):
        config = load_kubelet_config(flags["config"])
        config_dir = os.path.dirname(os.path.abspath(flags["config"]))
        for key, (attr, kind) in CONFIG_FIELDS.items():
            if config.get(key) is not None:
                setattr(settings, attr, _config_value(key, kind, config[key], config_dir))
        for dropin in config_dropins(flags.get("config-dir", "")):
            extra = load_kubelet_config(dropin)
            for key, (attr, kind) in CONFIG_FIELDS.items():
                if extra.get(key) is not None:
                    setattr(settings, attr, _config_value(key, kind, extra[key], config_dir))
    for flag, attr in FLAG_SETTINGS.items():
        if flag in flags:
            setattr(settings, attr, flags[flag])
    check_kubeconfigs(flags)
    resolve_feature_gates(settings)  # a gate the release refuses stops the kubelet here
    if min(settings.file_check_frequency, settings.http_check_frequency) < 0:
        raise ConfigError("invalid configuration: check frequencies must not be negative")
    if not all(0 <= port <= 65535 for port in (settings.healthz_port, settings.read_only_port)):
        raise ConfigError("invalid configuration: ports must be between 0 and 65535")
    return settings


def parse_release(text: Optional[str]) -> Tuple[int, int]:
    """The lab's KUBELET_STANDIN_RELEASE ("1.31", "v1.31.4"), or 1.34 when unset."""
    if not text:
        return RELEASE
    match = re.fullmatch(r"v?(\d+)\.(\d+)(?:\.\d+)?", text.strip())
    release = (int(match.group(1)), int(match.group(2))) if match else None
    if release is None or not OLDEST_RELEASE <= release <= RELEASE:
        oldest, newest = (".".join(map(str, r)) for r in (OLDEST_RELEASE, RELEASE))
        raise ConfigError(
            f"KUBELET_STANDIN_RELEASE={text!r}: the stand-in models releases {oldest} to {newest}"
        )
    return release


def version_text(release: Tuple[int, int]) -> str:
    return f"v{release[0]}.{release[1]}.0-spctl-lab-standin"


def resolve_feature_gates(settings: Settings) -> Dict[str, bool]:
    """The gates the stand-in models, from the release's defaults and what the node's
    configuration sets (component-base/featuregate/feature_gate.go SetFromMap's errors).
    Gates it does not model are left to the real kubelet: accepted and ignored."""
    release, wanted = settings.release, settings.feature_gates.get(RELAXED_ENV)
    if release < (1, 30):
        if wanted is not None:
            raise ConfigError(f"unrecognized feature gate: {RELAXED_ENV}")
        return {RELAXED_ENV: False}
    if release >= (1, 34):
        if wanted is False:
            raise ConfigError(
                f"cannot set feature gate {RELAXED_ENV} to false, feature is locked to true"
            )
        return {RELAXED_ENV: True}
    return {RELAXED_ENV: release >= (1, 32) if wanted is None else wanted}


def config_dropins(directory: str) -> List[str]:
    """--config-dir: its *.conf files in lexical order, each merged over the config file
    (cmd/kubelet/app/server.go, mergeKubeletConfigurations)."""
    if not directory:
        return []
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(".conf"))
    except OSError as exc:
        raise ConfigError(f"failed to read kubelet config dir {directory}: {exc.strerror}") from None
    return [os.path.join(directory, n) for n in names]


def check_kubeconfigs(flags: Mapping[str, Any]) -> None:
    """The kubeconfig files the flags name must exist, or the kubelet exits
    (cmd/kubelet/app/server.go, run: with --bootstrap-kubeconfig, bootstrap.LoadClientCert
    needs it when --kubeconfig is missing; without it, buildKubeletClientConfig needs
    --kubeconfig). No flag: standalone, as the lab's fedora nodes run."""
    kubeconfig = flags.get("kubeconfig") or ""
    bootstrap = flags.get("bootstrap-kubeconfig") or ""
    if not kubeconfig or os.path.exists(kubeconfig):
        return
    if bootstrap:
        if not os.path.exists(bootstrap):
            raise ConfigError(
                "failed to run Kubelet: unable to load bootstrap kubeconfig: "
                f"stat {bootstrap}: no such file or directory"
            )
        return
    raise ConfigError(
        f"failed to run Kubelet: invalid kubeconfig: stat {kubeconfig}: no such file or directory"
    )


def _seconds(text: str) -> float:
    """A lab env value: a Go duration ("1s") or plain seconds ("0.5")."""
    try:
        return float(text)
    except ValueError:
        return parse_go_duration(text)


# -- manifests ----------------------------------------------------------------------------


class ManifestError(Exception):
    """A manifest the kubelet would not run; the message says why."""


@dataclass
class StaticPod:
    """A pod from a static source, defaulted as the kubelet's applyDefaults does."""

    uid: str
    name: str  # <metadata.name>-<node name>
    namespace: str
    manifest: Dict[str, Any]  # as parsed, metadata.name untouched
    source: str  # "file" or "http"
    origin: str  # the file path or the URL

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def spec(self) -> Dict[str, Any]:
        return self.manifest["spec"]

    @property
    def restart_policy(self) -> str:
        return self.spec.get("restartPolicy") or "Always"

    @property
    def grace_period(self) -> int:
        grace = self.spec.get("terminationGracePeriodSeconds")
        return DEFAULT_GRACE if grace is None else grace

    def annotations(self, seen: str) -> Dict[str, str]:
        result = dict(self.manifest["metadata"].get("annotations") or {})
        result["kubernetes.io/config.hash"] = self.uid
        result["kubernetes.io/config.source"] = self.source
        result["kubernetes.io/config.seen"] = seen
        return result


DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS_SUBDOMAIN = re.compile(rf"{DNS_LABEL.pattern}(\.{DNS_LABEL.pattern})*")
# Volume types with no API object behind them (podutil.HasAPIObjectReference lets them pass).
PLAIN_VOLUMES = frozenset(
    words(
        "awsElasticBlockStore azureDisk cephfs cinder downwardAPI emptyDir fc flexVolume flocker "
        "gcePersistentDisk gitRepo hostPath image iscsi nfs photonPersistentDisk portworxVolume "
        "quobyte rbd scaleIO storageos vsphereVolume"
    )
)
API_VOLUMES = {
    "configMap": "configmaps (via configmap volumes)",
    "secret": "secrets (via secret volumes)",
    "csi": "csidrivers (via CSI volumes)",
    "glusterfs": "endpoints (via glusterFS volumes)",
    "persistentVolumeClaim": "persistentvolumeclaims",
    "ephemeral": "persistentvolumeclaims (via ephemeral volumes)",
    "azureFile": "secrets (via azureFile volumes)",
}
PROJECTED_API_SOURCES = {
    "configMap": "configmaps (via projected volumes)",
    "secret": "secrets (via projected volumes)",
    "serviceAccountToken": "serviceaccounts (via projected volumes)",
    "clusterTrustBundle": "clustertrustbundles",
    "podCertificate": "podcertificates",
}
SECRET_REF_VOLUMES = ("cephfs", "cinder", "flexVolume", "rbd", "scaleIO", "iscsi", "storageos")


def compute_uid(pod: Dict[str, Any], node: str, origin: str, source: str) -> str:
    """md5 of the content and its origin, as in the kubelet's applyDefaults: the same content
    at the same path keeps its UID; a renamed file gets a new one."""
    canonical = json.dumps(pod, sort_keys=True, separators=(",", ":"), default=str)
    hasher = hashlib.md5(canonical.encode(), usedforsecurity=False)
    if source == "file":
        hasher.update(f"host:{node}file:{origin}".encode())
    else:
        hasher.update(f"url:{origin}".encode())  # the kubelet leaves the node out for URLs
    return hasher.hexdigest()


def _containers(spec: Dict[str, Any], kinds: Tuple[str, ...]) -> List[Tuple[str, Any]]:
    return [(f"spec.{k}[{i}]", c) for k in kinds for i, c in enumerate(spec.get(k) or [])]


# staging/src/k8s.io/apimachinery/pkg/util/validation/validation.go: IsEnvVarName (with
# hasChDirPrefix) and IsRelaxedEnvVarName, chosen by the gate in ValidateEnv
# (pkg/apis/core/validation/validation.go).
ENV_VAR_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
ENV_VAR_NAME_MESSAGE = (
    "a valid environment variable name must consist of alphabetic characters, digits, '_', "
    "'-', or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or "
    "'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')"
)
RELAXED_ENV_VAR_NAME_MESSAGE = (
    "a valid environment variable name must consist only of printable ASCII characters other "
    "than '='"
)


def env_var_name_errors(name: str) -> List[str]:
    if FEATURE_GATES[RELAXED_ENV]:
        bad = any(not " " <= ch <= "~" or ch == "=" for ch in name)
        return [RELAXED_ENV_VAR_NAME_MESSAGE] if bad else []
    errs = [] if ENV_VAR_NAME.fullmatch(name) else [ENV_VAR_NAME_MESSAGE]
    if name in (".", ".."):
        errs.append(f"must not be '{name}'")
    elif name.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def _validate_container(where: str, c: Any, names: set, volumes: set) -> List[str]:
    if not isinstance(c, dict):
        return [f"{where}: Invalid value: must be an object"]
    errs, name = [], c.get("name")
    if not name:
        errs.append(f"{where}.name: Required value")
    elif not isinstance(name, str) or len(name) > 63 or not DNS_LABEL.fullmatch(name):
        errs.append(f'{where}.name: Invalid value: "{name}": must be a DNS-1123 label')
    elif name in names:
        errs.append(f'{where}.name: Duplicate value: "{name}"')
    names.add(str(name))
    if not isinstance(c.get("image"), str) or not c["image"]:
        errs.append(f"{where}.image: Required value")
    for i, env in enumerate(c.get("env") or []):
        if not isinstance(env, dict) or not env.get("name"):
            errs.append(f"{where}.env[{i}].name: Required value")
        elif env_var_name_errors(str(env["name"])):
            errs += [
                f"{where}.env[{i}].name: Invalid value: {json.dumps(env['name'])}: {message}"
                for message in env_var_name_errors(str(env["name"]))
            ]
        elif not isinstance(env.get("value", ""), str):  # unquoted numbers, the classic
            errs.append(f"{where}.env[{i}].value: Invalid value: {env['value']!r}: not a string")
    for i, mount in enumerate(c.get("volumeMounts") or []):
        if not isinstance(mount, dict) or mount.get("name") not in volumes:
            errs.append(f"{where}.volumeMounts[{i}].name: Not found: {mount!r}")
        elif not mount.get("mountPath"):
            errs.append(f"{where}.volumeMounts[{i}].mountPath: Required value")
    return errs


def validate_pod(pod: Dict[str, Any], pod_name: str) -> List[str]:
    """The part of ValidatePodCreate a manifest author can trip over, with its messages."""
    errs: List[str] = []
    meta, spec = pod["metadata"], pod.get("spec")
    if len(pod_name) > 253 or not DNS_SUBDOMAIN.fullmatch(pod_name):
        errs.append(f'metadata.name: Invalid value: "{pod_name}": must be a DNS-1123 subdomain')
    if not DNS_LABEL.fullmatch(str(meta.get("namespace") or "default")):
        errs.append(f"metadata.namespace: Invalid value: {meta['namespace']!r}")
    for key in ("labels", "annotations"):
        values = meta.get(key) or {}
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            errs.append(f"metadata.{key}: Invalid value: values must be strings")
    if not isinstance(spec, dict):
        return errs + ["spec: Required value"]
    volumes: set = set()
    for i, volume in enumerate(spec.get("volumes") or []):
        if not isinstance(volume, dict) or not volume.get("name"):
            errs.append(f"spec.volumes[{i}].name: Required value")
        elif volume["name"] in volumes:
            errs.append(f'spec.volumes[{i}].name: Duplicate value: "{volume["name"]}"')
        elif len(volume) != 2:
            errs.append(f"spec.volumes[{i}]: Invalid value: must specify exactly one volume type")
        volumes.add(volume.get("name") if isinstance(volume, dict) else None)
    if not isinstance(spec.get("containers"), list) or not spec["containers"]:
        errs.append("spec.containers: Required value")
    names: set = set()
    for where, c in _containers(spec, ("initContainers", "containers")):
        errs += _validate_container(where, c, names, volumes)
    if spec.get("ephemeralContainers"):
        errs.append("spec.ephemeralContainers: Forbidden: cannot be set on create")
    if spec.get("restartPolicy", "Always") not in ("Always", "OnFailure", "Never"):
        errs.append(f'spec.restartPolicy: Unsupported value: "{spec["restartPolicy"]}"')
    grace = spec.get("terminationGracePeriodSeconds", 0)
    if not isinstance(grace, int) or isinstance(grace, bool) or grace < 0:
        errs.append("spec.terminationGracePeriodSeconds: Invalid value: must be >= 0")
    return errs


def _uses_ref(spec: Dict[str, Any], env_from_key: str, key_ref: str) -> bool:
    """Whether a container's envFrom or env valueFrom names an API object of that kind."""
    for _, c in _containers(spec, ("initContainers", "containers", "ephemeralContainers")):
        if any(env_from_key in source for source in c.get("envFrom") or []):
            return True
        if any((env.get("valueFrom") or {}).get(key_ref) for env in c.get("env") or []):
            return True
    return False


def _projected(volume: Dict[str, Any]) -> List[Dict[str, Any]]:
    projected = volume.get("projected")
    sources = projected.get("sources") if isinstance(projected, dict) else None
    return [source for source in sources or [] if isinstance(source, dict)]


def api_object_reference(spec: Dict[str, Any]) -> Optional[str]:
    """The API resource a static pod references, in podutil.HasAPIObjectReference's order,
    or None. Raises ManifestError for a volume type the kubelet does not know."""
    volumes = spec.get("volumes") or []
    if spec.get("serviceAccountName") or spec.get("serviceAccount"):
        return "serviceaccounts"
    secret_volume = any(
        "secret" in v
        or "azureFile" in v
        or (v.get("csi") or {}).get("nodePublishSecretRef")
        or any((v.get(kind) or {}).get("secretRef") for kind in SECRET_REF_VOLUMES)
        or any("secret" in source for source in _projected(v))
        for v in volumes
    )
    if (
        spec.get("imagePullSecrets")
        or secret_volume
        or _uses_ref(spec, "secretRef", "secretKeyRef")
    ):
        return "secrets"
    configmap_volume = any(
        "configMap" in v or any("configMap" in s for s in _projected(v)) for v in volumes
    )
    if configmap_volume or _uses_ref(spec, "configMapRef", "configMapKeyRef"):
        return "configmaps"
    if spec.get("resourceClaims"):
        return "resourceclaims"
    for volume in volumes:
        kind = next(k for k in volume if k != "name")
        if kind in API_VOLUMES:
            return API_VOLUMES[kind]
        if kind != "projected" and kind not in PLAIN_VOLUMES:
            raise ManifestError(f'unknown volume type for volume "{volume["name"]}"')
        for source in _projected(volume) if kind == "projected" else []:
            found = next(
                (PROJECTED_API_SOURCES[k] for k in source if k in PROJECTED_API_SOURCES), None
            )
            if found:
                return found
            if "downwardAPI" not in source:
                raise ManifestError(f'unknown source for projected volume "{volume["name"]}"')
    return None


def pod_from_object(obj: Any, origin: str, node: str, source: str) -> StaticPod:
    """Check, default and validate one decoded Pod, in tryDecodeSinglePod's order."""
    if not isinstance(obj, dict) or obj.get("apiVersion") != "v1" or obj.get("kind") != "Pod":
        if obj is None:  # an empty file, or one just truncated by an in-place write
            problem = "Object 'Kind' is missing in 'null'"
        elif isinstance(obj, dict):
            problem = (
                f"not a v1 Pod: apiVersion {obj.get('apiVersion')!r}, kind {obj.get('kind')!r}"
            )
        else:
            problem = f"not a v1 Pod: {type(obj).__name__}"
        raise ManifestError(f"couldn't parse as pod({problem}), please check config file")
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not meta.get("name"):
        raise ManifestError("invalid pod: name is needed for the pod")
    name = f"{meta['name']}-{node}"
    errs = validate_pod(obj, name)
    if errs:
        raise ManifestError(f"invalid pod: [{', '.join(errs)}]")
    resource = api_object_reference(obj["spec"])
    if resource:
        raise ManifestError(f"static pods may not reference {resource}")
    try:  # a uid written in the manifest is kept, as the kubelet does
        uid = str(meta.get("uid") or compute_uid(obj, node, origin, source))
    except TypeError as exc:  # YAML keys of mixed types, which no Pod decoder accepts either
        raise ManifestError(f"couldn't parse as pod({exc})") from None
    return StaticPod(uid, name, meta.get("namespace") or "default", obj, source, origin)


def read_manifest_file(path: str, node: str) -> StaticPod:
    """One manifest file as a pod. ManifestError if it is not one; FileNotFoundError if it
    went away since the directory was listed."""
    with open(path, "rb") as fh:
        data = fh.read(MAX_MANIFEST_BYTES + 1)
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(f'unable to read config path "{path}": file is larger than 10 MiB')
    try:
        obj = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        problem = " ".join(str(exc).split())
        raise ManifestError(f"couldn't parse as pod({problem}), please check config file") from None
    return pod_from_object(obj, path, node, "file")


def pods_from_url_body(body: bytes, url: str, node: str) -> List[StaticPod]:
    """A Pod or a v1 PodList. One bad pod rejects the whole body, as in the kubelet."""
    try:
        obj = yaml.safe_load(body)
    except yaml.YAMLError as exc:
        raise ManifestError(f"couldn't parse as single or multiple pods ({exc})") from None
    if isinstance(obj, dict) and obj.get("kind") == "PodList" and obj.get("apiVersion") == "v1":
        items = [
            {"apiVersion": "v1", "kind": "Pod", **i} if isinstance(i, dict) else i
            for i in obj.get("items") or []
        ]
        return [pod_from_object(item, url, node, "http") for item in items]
    return [pod_from_object(obj, url, node, "http")]


def drop_duplicates(pods: List[StaticPod]) -> Tuple[List[StaticPod], List[Tuple[int, StaticPod]]]:
    """(kept, [(index, ignored)]): the first pod of each namespace/name wins, in the source's
    order (sorted file names), as in the kubelet's filterInvalidPods. So a stale
    `static-web.bak.yaml` silently beats `static-web.yaml`. (The real file source also keys
    its cache by namespace/name, where the last file listed or written wins: which file wins
    there depends on timing. Either way a stray copy can silently replace the pod.)"""
    seen: set = set()
    kept, ignored = [], []
    for index, pod in enumerate(pods):
        (ignored.append((index, pod)) if pod.full_name in seen else kept.append(pod))
        seen.add(pod.full_name)
    return kept, ignored


def keep_last_definitions(pods: List[StaticPod]) -> List[StaticPod]:
    """The file source's choice among files that define the same pod: its store is keyed by
    namespace/name and a re-list replaces it with every file's pod in listing order
    (pkg/kubelet/config/file.go, listConfig -> replaceStore; cache.NewUndeltaStore with
    MetaNamespaceKeyFunc), so the LAST file (sorted names) wins, silently: the merge in
    config.go (filterInvalidPods) never sees the duplicate. A stale `static-web.bak.yaml`
    loses to `static-web.yaml`; a stray `static-web.yaml~` beats it."""
    chosen: Dict[str, StaticPod] = {}
    for pod in pods:
        chosen.pop(pod.full_name, None)
        chosen[pod.full_name] = pod
    return list(chosen.values())


def report_duplicates(
    ignored: List[Tuple[int, StaticPod]], source: str, say: Callable[..., None]
) -> None:
    message = "Pod failed validation due to duplicate pod name, ignoring"
    for index, pod in ignored:
        kv = {"index": index, "pod": pod.full_name, "source": source, "path": pod.origin}
        say(("duplicate", pod.origin), "I", "config.go", message, **kv)


# -- sources ----------------------------------------------------------------------------------


class FileSource:
    """--pod-manifest-path / staticPodPath: a directory of manifests, or one manifest file."""

    def __init__(self, path: str, node: str) -> None:
        self.path = os.path.normpath(path)
        self.node = node
        self.pods: List[StaticPod] = []
        self.listed = False
        self.quiet = QuietLog()
        self._by_file: Dict[str, StaticPod] = {}

    def manifest_files(self) -> List[str]:
        """What the kubelet reads: entries not starting with a dot, regular files only."""
        say = self.quiet.say
        try:
            mode = os.stat(self.path).st_mode
        except FileNotFoundError:
            err = "path does not exist, ignoring"
            say(self.path, "E", "file.go", "Unable to read config path", path=self.path, err=err)
            return []
        if stat.S_ISREG(mode):
            return [self.path]
        files = []
        for name in sorted(os.listdir(self.path)):
            path = os.path.join(self.path, name)
            if name.startswith("."):
                continue
            try:
                mode = os.stat(path).st_mode  # follows symlinks, as Go's os.Stat does
            except OSError as exc:
                say(path, "E", "file.go", "Could not get metadata", path=path, err=exc)
                continue
            if stat.S_ISREG(mode):
                files.append(path)
            elif stat.S_ISDIR(mode):
                message = "Provided manifest path is a directory, not recursing into manifest path"
                say(path, "E", "file.go", message, path=path)
            else:
                say(path, "E", "file.go", "Manifest path is not a directory or file", path=path)
        return files

    def relist(self, after_event: bool = False) -> List[StaticPod]:
        """Read every manifest again. On the periodic re-list a file that fails to parse is
        dropped, so its pod is killed. After an inotify event the kubelet only reports the
        error and keeps the pod it had; `after_event=True` does the same."""
        pods = []
        for path in self.manifest_files():
            try:
                pods.append(read_manifest_file(path, self.node))
                self.quiet.clear(path)
            except FileNotFoundError:
                continue  # gone since the listing; the kubelet says nothing either
            except Exception as exc:  # whatever is in a file, it must not stop the others
                self.quiet.say(
                    path, "E", "file.go", "Could not process manifest file", path=path, err=exc
                )
                if after_event and path in self._by_file:
                    pods.append(self._by_file[path])
        self._by_file = {pod.origin: pod for pod in pods}
        self.pods = keep_last_definitions(pods)
        self.listed = True
        return self.pods


IN_MODIFY, IN_CLOSE_WRITE, IN_MOVED_FROM, IN_MOVED_TO = 0x2, 0x8, 0x40, 0x80
IN_CREATE, IN_DELETE, IN_DELETE_SELF, IN_MOVE_SELF = 0x100, 0x200, 0x400, 0x800
IN_IGNORED, IN_NONBLOCK, IN_CLOEXEC = 0x8000, 0o4000, 0o2000000
WATCH_MASK = IN_CREATE | IN_DELETE | IN_MODIFY | IN_MOVED_TO | IN_MOVED_FROM | IN_CLOSE_WRITE
SELF_GONE = IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED


class DirectoryWatch:
    """inotify on the manifest directory, through libc: a change is seen within a second or
    so, as with the kubelet's fsnotify watch. Only an accelerator: without inotify the
    periodic re-list still sees every change."""

    def __init__(self, path: str) -> None:
        self.path = os.path.normpath(path)
        self.fd = self.wd = -1
        try:
            self._libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            self.fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        except (OSError, AttributeError) as exc:
            log("W", "file_linux.go", "inotify unavailable, polling only", err=exc)
            return
        if self.fd < 0:
            err = os.strerror(ctypes.get_errno())
            log("W", "file_linux.go", "inotify unavailable, polling only", err=err)

    def arm(self) -> None:
        """(Re)arm the watch: the directory may appear, vanish or be replaced at any time."""
        if self.fd >= 0 and self.wd < 0 and os.path.isdir(self.path):
            mask = WATCH_MASK | SELF_GONE
            self.wd = self._libc.inotify_add_watch(self.fd, self.path.encode(), mask)

    def wait(self, timeout: float) -> bool:
        """Sleep up to `timeout`; True as soon as something in the directory changed."""
        if self.fd < 0:
            time.sleep(timeout)
            return False
        readable, _, _ = select.select([self.fd], [], [], timeout)
        return bool(readable) and self._drain()

    def _drain(self) -> bool:
        changed, buf = False, b""
        while True:
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                return changed
            offset = 0
            while offset + 16 <= len(buf):
                _, mask, _, length = struct.unpack_from("iIII", buf, offset)
                name = buf[offset + 16 : offset + 16 + length].rstrip(b"\0")
                offset += 16 + length
                if mask & SELF_GONE:
                    if mask & IN_MOVE_SELF:  # a moved directory keeps its watch: drop it
                        self._libc.inotify_rm_watch(self.fd, self.wd)
                    self.wd, changed = -1, True
                elif name and not name.startswith(b"."):  # the kubelet ignores dotfiles here too
                    changed = True


class URLSource:
    """--manifest-url / staticPodURL, fetched in its own thread so that a slow server never
    stalls the sync loop. A failed fetch keeps the previous pods; an empty body drops them."""

    def __init__(self, url: str, headers: Dict[str, List[str]], node: str, period: float) -> None:
        self.url, self.headers, self.node, self.period = url, headers, node, period
        self.pods: List[StaticPod] = []  # replaced wholesale, never mutated
        self.listed = False  # after the first usable answer; until then no pod is killed
        self._last_body: Optional[bytes] = None

    def start(self) -> None:
        threading.Thread(target=self._run, name="url-source", daemon=True).start()

    def _run(self) -> None:
        while True:
            self.fetch_once()
            time.sleep(max(self.period, 0.1))

    def _get(self) -> bytes:
        if urllib.parse.urlsplit(self.url).scheme not in ("http", "https"):
            raise ValueError(f"unsupported URL scheme: {self.url}")
        # Repeated values are joined, which HTTP defines as equal to repeating the header.
        headers = {key: ", ".join(values) for key, values in self.headers.items()}
        request = urllib.request.Request(self.url, headers=headers)  # noqa: S310 (checked)
        with urllib.request.urlopen(request, timeout=URL_TIMEOUT) as response:  # noqa: S310 (checked)
            if response.status != 200:
                raise ValueError(f"{self.url}: {response.status} {response.reason}")
            body = response.read(MAX_MANIFEST_BYTES)
        # k8s.io/utils/io ReadAtMost: reading the whole limit is already an error.
        if len(body) >= MAX_MANIFEST_BYTES:
            raise ValueError(f"{self.url}: the read limit is reached")
        return body

    def fetch_once(self) -> None:
        try:
            body = self._get()
            if not body:
                # http.go sends an empty update but keeps s.data: the same non-empty body
                # served again later is skipped, so its pods do not come back.
                self.pods, self.listed = [], True
                raise ValueError(f"zero-length data received from {self.url}")
            if body == self._last_body:
                return
            self._last_body = body
            self.pods, ignored = drop_duplicates(pods_from_url_body(body, self.url, self.node))
            self.listed = True
            report_duplicates(ignored, "http", lambda _key, *args, **kv: log(*args, **kv))
        except Exception as exc:  # whatever the server sends, this thread must go on
            log("E", "http.go", "Unable to read config URL", url=self.url, err=exc)


# -- the Docker Engine API ------------------------------------------------------------------


class RuntimeCallError(Exception):
    """A call to the container runtime failed (Docker's API or the CRI)."""

    def __init__(self, status: Any, message: str, text: str = "") -> None:
        super().__init__(text or f"runtime {status}: {message}")
        self.status, self.message = status, message


class DockerError(RuntimeCallError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, message, f"docker API {status}: {message}")


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


class DockerClient:
    """The few Engine API calls needed, over the unix socket. Not the docker CLI: 50 nodes
    forking it every second would burn the lab machine's two cores."""

    def __init__(self, env: Mapping[str, str]) -> None:
        host = env.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        if not host.startswith("unix://"):
            raise ConfigError(f"DOCKER_HOST={host}: only unix:// sockets are supported")
        self.socket_path = host[len("unix://") :]

    def call(self, method: str, path: str, body: Any = None, timeout: float = 30.0) -> Any:
        conn = _UnixHTTPConnection(self.socket_path, timeout)
        try:
            payload = None if body is None else json.dumps(body).encode()
            conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            data = response.read()
        except OSError as exc:
            where = f"unix://{self.socket_path}"
            raise DockerError(0, f"cannot talk to the Docker engine at {where}: {exc}") from None
        finally:
            conn.close()
        if response.status >= 400:
            try:
                message = json.loads(data).get("message", "")
            except ValueError:
                message = data.decode(errors="replace")
            raise DockerError(response.status, message)
        return json.loads(data) if data else None

    def list_pod_containers(self) -> List[Dict[str, Any]]:
        query = urllib.parse.quote(json.dumps({"label": ["io.kubernetes.pod.uid"]}))
        return self.call("GET", f"/containers/json?all=1&filters={query}")

    def create(self, name: str, config: Dict[str, Any]) -> str:
        return self.call("POST", f"/containers/create?name={name}", config)["Id"]

    def start(self, cid: str) -> None:
        self.call("POST", f"/containers/{cid}/start")

    def stop(self, cid: str, grace: int) -> None:
        self.call("POST", f"/containers/{cid}/stop?t={grace}", timeout=grace + 30.0)

    def remove(self, cid: str) -> None:
        try:
            self.call("DELETE", f"/containers/{cid}?force=1&v=1")
        except DockerError as exc:
            if exc.status != 404:
                raise


# -- what runs: containers grouped into pods --------------------------------------------------


@dataclass
class RuntimeContainer:
    """One container of a pod, as `GET /containers/json` shows it."""

    id: str
    pod_uid: str
    pod_name: str
    namespace: str
    container: str  # "POD" for the sandbox
    attempt: int
    state: str  # docker's: running, exited, created, ...
    created: int
    sandbox_id: str
    ip: str
    grace: int

    @property
    def alive(self) -> bool:
        return self.state in ("running", "paused", "restarting")

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.pod_name}"

    @classmethod
    def from_api(cls, entry: Dict[str, Any]) -> Optional[RuntimeContainer]:
        labels = entry.get("Labels") or {}
        if not labels.get("io.kubernetes.pod.uid") or not labels.get("io.kubernetes.pod.name"):
            return None  # not a pod's container: none of the stand-in's business
        name = (entry.get("Names") or ["/"])[0].lstrip("/")
        tail = name.rsplit("_", 1)[-1]
        networks = (entry.get("NetworkSettings") or {}).get("Networks") or {}
        grace = labels.get(GRACE_LABEL, "")
        return cls(
            id=entry["Id"],
            pod_uid=labels["io.kubernetes.pod.uid"],
            pod_name=labels["io.kubernetes.pod.name"],
            namespace=labels.get("io.kubernetes.pod.namespace", "default"),
            container=labels.get("io.kubernetes.container.name", ""),
            attempt=int(tail) if tail.isdigit() else 0,
            state=entry.get("State", ""),
            created=int(entry.get("Created") or 0),
            sandbox_id=labels.get("io.kubernetes.sandbox.id", ""),
            ip=next((n["IPAddress"] for n in networks.values() if n.get("IPAddress")), ""),
            grace=int(grace) if grace.isdigit() else DEFAULT_GRACE,
        )


@dataclass
class PodContainers:
    """One pod's containers as they are: sandboxes and each container's attempts, newest first."""

    sandboxes: List[RuntimeContainer] = field(default_factory=list)
    containers: Dict[str, List[RuntimeContainer]] = field(default_factory=dict)

    @property
    def sandbox(self) -> Optional[RuntimeContainer]:
        return self.sandboxes[0] if self.sandboxes else None

    def everything(self) -> List[RuntimeContainer]:
        return [c for history in self.containers.values() for c in history] + self.sandboxes

    @property
    def full_name(self) -> str:
        return self.everything()[0].full_name


def group_by_pod(entries: List[Dict[str, Any]], node: str) -> Dict[str, PodContainers]:
    """Pod containers by pod UID. Only pods named for this node count: a real kubelet owns
    its whole engine, but while developing several stand-ins may share one."""
    pods: Dict[str, PodContainers] = {}
    for entry in entries:
        c = RuntimeContainer.from_api(entry)
        if c is None or not c.pod_name.endswith("-" + node):
            continue
        pod = pods.setdefault(c.pod_uid, PodContainers())
        if c.container == "POD":
            pod.sandboxes.append(c)
        else:
            pod.containers.setdefault(c.container, []).append(c)
    for pod in pods.values():
        for history in [pod.sandboxes, *pod.containers.values()]:
            history.sort(key=lambda c: (c.attempt, c.created), reverse=True)
    return pods


@dataclass(frozen=True)
class ContainerDetail:
    """What only `GET /containers/{id}/json` tells: times and how it ended."""

    started_at: str = ""
    finished_at: str = ""
    exit_code: int = 0
    reason: str = ""

    @classmethod
    def from_inspect(cls, info: Dict[str, Any]) -> ContainerDetail:
        state = info.get("State") or {}
        code = int(state.get("ExitCode") or 0)
        if state.get("Status") == "created" or state.get("Error"):
            reason, code = "StartError", code or 128  # it never ran: the start failed
        elif state.get("OOMKilled"):
            reason = "OOMKilled"
        else:
            reason = "Completed" if code == 0 else "Error"
        times = [state.get(k) or "" for k in ("StartedAt", "FinishedAt")]
        started, finished = ("" if t.startswith("0001-") else t for t in times)
        return cls(started, finished, code, reason)

    def finished_epoch(self) -> Optional[float]:
        match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?", self.finished_at)
        if not match:
            return None
        whole = datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
        return whole.timestamp() + float(match.group(2) or 0)


def should_restart(policy: str, exit_code: int) -> bool:
    return policy == "Always" or (policy == "OnFailure" and exit_code != 0)


class RestartBackoff:
    """The kubelet's container restart back-off (flowcontrol.Backoff, without the jitter).

    The first restart is immediate; each later one waits twice as long as the one before,
    from `initial` (10 s) up to `maximum` (300 s), counted from the container's exit. A
    container that ran for more than 2 x maximum (10 minutes) after its last restart starts
    over at no wait."""

    def __init__(self, initial: float = BACKOFF_INITIAL, maximum: float = BACKOFF_MAX) -> None:
        self.initial, self.maximum = initial, maximum
        self._entries: Dict[Any, Tuple[float, float]] = {}  # key -> (delay, last restart)

    def _live(self, key: Any, exited_at: float) -> bool:
        return key in self._entries and exited_at - self._entries[key][1] <= 2 * self.maximum

    def remaining(self, key: Any, exited_at: float, now: float) -> float:
        """Seconds to wait before restarting a container that exited at `exited_at`."""
        if not self._live(key, exited_at):
            return 0.0
        return max(0.0, self._entries[key][0] - (now - exited_at))

    def restarted(self, key: Any, exited_at: float, now: float) -> None:
        """Record a restart: the next one waits longer."""
        live = self._live(key, exited_at)
        delay = min(self._entries[key][0] * 2, self.maximum) if live else self.initial
        self._entries[key] = (delay, now)

    def delay(self, key: Any) -> float:
        return self._entries[key][0] if key in self._entries else 0.0

    def forget_except(self, keep: set) -> None:
        self._entries = {k: v for k, v in self._entries.items() if k in keep}


# -- pod status, as /pods on the read-only port shows it ----------------------------------------


def _terminated(detail: ContainerDetail) -> Dict[str, Any]:
    state: Dict[str, Any] = {"exitCode": detail.exit_code, "reason": detail.reason}
    if detail.started_at:
        state.update(startedAt=detail.started_at, finishedAt=detail.finished_at)
    return {"terminated": state}


def container_status(
    spec: Dict[str, Any],
    history: List[RuntimeContainer],
    detail: Callable[[RuntimeContainer], ContainerDetail],
    waiting: Optional[Tuple[str, str]],
    runtime: str = "docker",
) -> Dict[str, Any]:
    """A v1 ContainerStatus from the container's attempts (newest first)."""
    latest = history[0] if history else None
    status: Dict[str, Any] = {"name": spec["name"], "image": spec["image"], "ready": False}
    status.update(started=False, restartCount=latest.attempt if latest else 0)
    previous = history[1] if len(history) > 1 and not history[1].alive else None
    status["lastState"] = _terminated(detail(previous)) if previous else {}
    if latest is not None:
        status["containerID"] = f"{runtime}://{latest.id}"
    if latest is not None and latest.alive:
        running = {"startedAt": detail(latest).started_at}
        status.update(ready=True, started=True, state={"running": running})
    elif waiting is not None or latest is None:
        reason, message = waiting or ("ContainerCreating", "")
        status["state"] = {"waiting": {"reason": reason, "message": message}}
        if latest is not None:
            status["lastState"] = _terminated(detail(latest))
    else:
        status["state"] = _terminated(detail(latest))
    return status


def pod_phase(restart_policy: str, statuses: List[Dict[str, Any]]) -> str:
    """The kubelet's getPhase, for a pod without init containers."""
    waiting = running = stopped = succeeded = 0
    for status in statuses:
        state = status["state"]
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            succeeded += state["terminated"]["exitCode"] == 0
        elif "terminated" in status.get("lastState", {}):
            stopped += 1  # waiting to be restarted
        else:
            waiting += 1
    if waiting or not (running or stopped):
        return "Pending"
    if running or restart_policy == "Always":
        return "Running"
    if stopped == succeeded:
        return "Succeeded"
    return "Failed" if restart_policy == "Never" else "Running"


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- a pod as docker containers, the cri-dockerd way ---------------------------------------------


def container_name(container: str, pod: StaticPod, attempt: int) -> str:
    """k8s_<container>_<pod>_<namespace>_<uid>_<attempt>; container "POD" is the sandbox."""
    return f"k8s_{container}_{pod.name}_{pod.namespace}_{pod.uid}_{attempt}"


def pod_labels(pod: StaticPod, container: str) -> Dict[str, str]:
    return {
        "io.kubernetes.pod.name": pod.name,
        "io.kubernetes.pod.namespace": pod.namespace,
        "io.kubernetes.pod.uid": pod.uid,
        "io.kubernetes.container.name": container,
    }


def sandbox_config(pod: StaticPod, annotations: Dict[str, str]) -> Dict[str, Any]:
    """The sandbox carries the pod's labels and, as dockershim did, each annotation as a label."""
    labels = dict(pod.manifest["metadata"].get("labels") or {})
    labels.update(pod_labels(pod, "POD"), **{"io.kubernetes.docker.type": "podsandbox"})
    labels.update({f"annotation.{key}": value for key, value in annotations.items()})
    host_network = bool(pod.spec.get("hostNetwork"))
    config = {"Image": SANDBOX_IMAGE, "Entrypoint": SANDBOX_COMMAND, "Labels": labels}
    network = "host" if host_network else "bridge"
    config["HostConfig"] = {"NetworkMode": network, "RestartPolicy": {"Name": "no"}}
    if not host_network:  # a container joining a network namespace cannot set a hostname
        config["Hostname"] = (pod.spec.get("hostname") or pod.name)[:63].rstrip("-.")
    return config


def app_config(
    pod: StaticPod, c: Dict[str, Any], sandbox_id: str, attempt: int, binds: List[str]
) -> Dict[str, Any]:
    """An app container, in the sandbox's network namespace (or the host's)."""
    labels = pod_labels(pod, c["name"])
    labels.update(
        {
            "io.kubernetes.docker.type": "container",
            "io.kubernetes.sandbox.id": sandbox_id,
            "annotation.io.kubernetes.container.restartCount": str(attempt),
            GRACE_LABEL: str(pod.grace_period),  # so a pod whose file is gone still gets its grace
        }
    )
    network = "host" if pod.spec.get("hostNetwork") else f"container:{sandbox_id}"
    privileged = bool((c.get("securityContext") or {}).get("privileged"))
    config: Dict[str, Any] = {"Image": c["image"], "Labels": labels}
    # restarts are the kubelet's business, not dockerd's
    config["HostConfig"] = {
        "NetworkMode": network,
        "Binds": binds,
        "Privileged": privileged,
        "RestartPolicy": {"Name": "no"},
    }
    config["Env"] = [f"{e['name']}={e.get('value') or ''}" for e in c.get("env") or []]
    if c.get("command"):  # replaces the image's ENTRYPOINT and, with it, its CMD
        config["Entrypoint"] = c["command"]
    if c.get("args"):
        config["Cmd"] = c["args"]
    if c.get("workingDir"):
        config["WorkingDir"] = c["workingDir"]
    return config


class VolumeError(Exception):
    pass


def prepare_mounts(pod: StaticPod, c: Dict[str, Any], root_dir: str) -> List[Tuple[str, str, bool]]:
    """(host path, container path, read-only) for the container's hostPath and emptyDir
    volume mounts, with their host side made ready."""
    volumes = {v["name"]: v for v in pod.spec.get("volumes") or []}
    mounts = []
    for mount in c.get("volumeMounts") or []:
        volume = volumes[mount["name"]]
        if "hostPath" in volume:
            source, kind = volume["hostPath"].get("path", ""), volume["hostPath"].get("type")
            if kind == "DirectoryOrCreate":
                os.makedirs(source, mode=0o755, exist_ok=True)
            elif kind == "FileOrCreate" and not os.path.exists(source):
                open(source, "a").close()  # else dockerd would create a directory there
        elif "emptyDir" in volume:
            source = os.path.join(root_dir, "pods", pod.uid, "volumes", "emptydir", volume["name"])
            os.makedirs(source, exist_ok=True)
        else:
            kind = next(k for k in volume if k != "name")
            raise VolumeError(f'volume "{volume["name"]}": the stand-in has no {kind} volumes')
        if mount.get("subPath"):
            source = os.path.join(source, mount["subPath"])
            os.makedirs(source, exist_ok=True)
        mounts.append((source, mount["mountPath"], bool(mount.get("readOnly"))))
    return mounts


def docker_binds(mounts: List[Tuple[str, str, bool]]) -> List[str]:
    return [
        f"{source}:{target}" + (":ro" if readonly else "") for source, target, readonly in mounts
    ]


def prepare_binds(pod: StaticPod, c: Dict[str, Any], root_dir: str) -> List[str]:
    """Docker binds for the container's hostPath and emptyDir volume mounts."""
    return docker_binds(prepare_mounts(pod, c, root_dir))


def detect_host_ip() -> str:
    """The address of the default route's interface (connecting UDP sends no packet)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.255.255.255", 1))
            return probe.getsockname()[0]
    except OSError:
        return "127.0.0.1"


# -- the kubelet's container garbage collection -------------------------------------------------


def garbage(current: PodContainers) -> List[RuntimeContainer]:
    """What the kubelet's container GC removes from a pod that still exists, oldest first
    (pkg/kubelet/kuberuntime/kuberuntime_gc.go, with the kubelet's default policy: MinAge 0,
    MaxPerPodContainer 1, MaxContainers -1):

    - evictContainers: of each container name, every dead (not running) container but the
      newest by attempt goes;
    - evictSandboxes: the pod's newest sandbox stays; an older one goes once it is not ready
      and no remaining container belongs to it. So a dead sandbox stays while it holds the
      dead container kept above, and a pod can have several sandboxes.
    The stand-in runs this after each sync of the pod instead of once a minute."""
    doomed: List[RuntimeContainer] = []
    kept: List[RuntimeContainer] = []
    for history in current.containers.values():  # newest first
        dead = [c for c in history if not c.alive]
        doomed += reversed(dead[1:])
        kept += [c for c in history if c.alive] + dead[:1]
    holding = {c.sandbox_id for c in kept}
    for sandbox in reversed(current.sandboxes[1:]):
        if not sandbox.alive and sandbox.id not in holding:
            doomed.append(sandbox)
    return doomed


# -- the kubelet's labels and annotations on CRI sandboxes and containers ----------------------


def pod_logs_directory(pod: StaticPod) -> str:
    """BuildPodLogsDirectory (pkg/kubelet/kuberuntime/helpers.go): <ns>_<name>_<uid>."""
    return os.path.join(POD_LOGS_DIR, f"{pod.namespace}_{pod.name}_{pod.uid}")


def hash_container(spec: Dict[str, Any]) -> str:
    """io.kubernetes.container.hash: FNV-1a (32 bit) of the container's JSON, in hex, as
    kubecontainer.HashContainer does (Go's field order differs, so the values do too)."""
    digest = 0x811C9DC5
    for byte in json.dumps(spec, sort_keys=True, separators=(",", ":")).encode():
        digest = ((digest ^ byte) * 0x01000193) & 0xFFFFFFFF
    return format(digest, "x")


def namespace_options(pod: StaticPod) -> Dict[str, int]:
    """namespacesForPod (pkg/kubelet/kuberuntime/util.go): the pod's network and IPC
    namespaces unless hostNetwork/hostIPC (NODE); a PID namespace per container unless
    hostPID (NODE) or shareProcessNamespace (POD)."""
    spec = pod.spec
    pid = cri.NAMESPACE_CONTAINER
    if spec.get("hostPID"):
        pid = cri.NAMESPACE_NODE
    elif spec.get("shareProcessNamespace"):
        pid = cri.NAMESPACE_POD
    return {
        "network": cri.NAMESPACE_NODE if spec.get("hostNetwork") else cri.NAMESPACE_POD,
        "pid": pid,
        "ipc": cri.NAMESPACE_NODE if spec.get("hostIPC") else cri.NAMESPACE_POD,
    }


def _privileged(c: Dict[str, Any]) -> bool:
    return bool((c.get("securityContext") or {}).get("privileged"))


def cri_sandbox_config(pod: StaticPod, attempt: int, annotations: Dict[str, str]) -> Dict[str, Any]:
    """The PodSandboxConfig the kubelet sends (generatePodSandboxConfig in
    pkg/kubelet/kuberuntime/kuberuntime_sandbox.go): metadata with the attempt, the pod's
    labels plus io.kubernetes.pod.name/namespace/uid (newPodLabels in labels.go), the pod's
    annotations (newPodAnnotations, kubernetes.io/config.* included), the log directory, a
    hostname unless hostNetwork, and the namespace options."""
    labels = dict(pod.manifest["metadata"].get("labels") or {})
    labels.update(
        {
            "io.kubernetes.pod.name": pod.name,
            "io.kubernetes.pod.namespace": pod.namespace,
            "io.kubernetes.pod.uid": pod.uid,
        }
    )
    containers = pod.spec.get("containers") or []
    config: Dict[str, Any] = {
        "metadata": {
            "name": pod.name,
            "uid": pod.uid,
            "namespace": pod.namespace,
            "attempt": attempt,
        },
        "log_directory": pod_logs_directory(pod),
        "labels": labels,
        "annotations": dict(annotations),
        "linux": {
            "security_context": {
                "namespace_options": namespace_options(pod),
                "privileged": any(_privileged(c) for c in containers),
            }
        },
    }
    if not pod.spec.get("hostNetwork"):
        config["hostname"] = (pod.spec.get("hostname") or pod.name)[:63].rstrip("-.")
    return config


def cri_container_labels(pod: StaticPod, container: str) -> Dict[str, str]:
    """newContainerLabels (labels.go)."""
    return pod_labels(pod, container)


def cri_container_annotations(
    pod: StaticPod, spec: Dict[str, Any], restart_count: int
) -> Dict[str, str]:
    """newContainerAnnotations (labels.go). The API server defaults terminationMessagePath,
    terminationMessagePolicy and terminationGracePeriodSeconds, so they are always set."""
    annotations = {
        "io.kubernetes.container.hash": hash_container(spec),
        "io.kubernetes.container.restartCount": str(restart_count),
        "io.kubernetes.container.terminationMessagePath": spec.get("terminationMessagePath")
        or "/dev/termination-log",
        "io.kubernetes.container.terminationMessagePolicy": spec.get("terminationMessagePolicy")
        or "File",
        "io.kubernetes.pod.terminationGracePeriod": str(pod.grace_period),
        "io.kubernetes.container.type": "container",
    }
    if spec.get("ports"):
        # compact, in v1.ContainerPort's field order, protocol defaulted: as Go writes it
        order = ("name", "hostPort", "containerPort", "protocol", "hostIP")
        ports = [
            {k: p[k] for k in order if k in p or k == "protocol"}
            | {"protocol": p.get("protocol") or "TCP"}
            for p in spec["ports"]
        ]
        annotations["io.kubernetes.container.ports"] = json.dumps(ports, separators=(",", ":"))
    return annotations


def cri_container_config(
    pod: StaticPod, spec: Dict[str, Any], restart_count: int, mounts: List[Tuple[str, str, bool]]
) -> Dict[str, Any]:
    """The ContainerConfig of generateContainerConfig (kuberuntime_container.go): metadata
    with attempt = restart count, the log path <container>/<restart count>.log under the
    sandbox's log directory, command/args/env/working dir, mounts, and the security context."""
    config: Dict[str, Any] = {
        "metadata": {"name": spec["name"], "attempt": restart_count},
        "image": {"image": spec["image"]},
        "command": list(spec.get("command") or []),
        "args": list(spec.get("args") or []),
        "working_dir": spec.get("workingDir") or "",
        "envs": [{"key": e["name"], "value": e.get("value") or ""} for e in spec.get("env") or []],
        "mounts": [
            {"container_path": target, "host_path": source, "readonly": readonly}
            for source, target, readonly in mounts
        ],
        "labels": cri_container_labels(pod, spec["name"]),
        "annotations": cri_container_annotations(pod, spec, restart_count),
        "log_path": os.path.join(spec["name"], f"{restart_count}.log"),
        "linux": {
            "security_context": {
                "privileged": _privileged(spec),
                "namespace_options": namespace_options(pod),
            }
        },
    }
    return config


# -- the runtimes: Docker (cri-dockerd's way) and the CRI ---------------------------------------


class StartFailure(Exception):
    """A container could not be created or started: the kubelet's waiting reason and why;
    ``created`` when a container was made (it shows as a failed attempt)."""

    def __init__(self, reason: str, message: str, created: bool) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason, self.message, self.created = reason, message, created


class ImageNotPresent(StartFailure):
    """The runtime has no such image: the kubelet's image manager decides what that means."""

    def __init__(self, image: str) -> None:
        super().__init__("ErrImageNeverPull", f'image "{image}" is not present', False)
        self.image = image


def pull_policy(spec: Dict[str, Any]) -> str:
    """The container's imagePullPolicy with the API's default (pkg/apis/core/v1/defaults.go
    SetDefaults_Container): Always for an image tagged :latest or untagged, else IfNotPresent."""
    if spec.get("imagePullPolicy"):
        return str(spec["imagePullPolicy"])
    image = str(spec.get("image") or "")
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    return "Always" if last.partition(":")[2] in ("", "latest") else "IfNotPresent"


class ImagePulls:
    """pkg/kubelet/images/image_manager.go EnsureImageExists for an image the runtime lacks,
    on a node with no registry: Never gives ErrImageNeverPull; otherwise the pull fails
    (ErrImagePull) and, while the pull back-off of that pod and image lasts (10 s doubling to
    300 s, kubelet.go imageBackOffPeriod / MaxContainerBackOff), ImagePullBackOff."""

    def __init__(self) -> None:
        self._backoff: Dict[str, Tuple[float, float]] = {}  # "<uid>_<image>" -> (until, delay)

    def failure(self, pod: StaticPod, spec: Dict[str, Any], now: float) -> StartFailure:
        image = spec["image"]
        if pull_policy(spec) == "Never":
            why = f'Container image "{image}" is not present with pull policy of Never'
            return StartFailure("ErrImageNeverPull", why, False)
        key = f"{pod.uid}_{image}"
        until, delay = self._backoff.get(key, (0.0, 0.0))
        if now < until:
            return StartFailure("ImagePullBackOff", f'Back-off pulling image "{image}"', False)
        delay = min(delay * 2, BACKOFF_MAX) if delay else BACKOFF_INITIAL
        self._backoff[key] = (now + delay, delay)
        why = (
            f'Failed to pull image "{image}": rpc error: code = NotFound desc = failed to pull '
            f'and unpack image "{image}": the lab has no registry'
        )
        return StartFailure("ErrImagePull", why, False)


class DockerRuntime:
    """Pods as the node's dockerd containers, named and labelled as cri-dockerd does."""

    name = "docker"

    def __init__(self, docker: DockerClient) -> None:
        self.docker = docker

    def pods(self, node: str) -> Dict[str, PodContainers]:
        return group_by_pod(self.docker.list_pod_containers(), node)

    def detail(self, c: RuntimeContainer) -> ContainerDetail:
        return ContainerDetail.from_inspect(self.docker.call("GET", f"/containers/{c.id}/json"))

    def run_sandbox(self, pod: StaticPod, attempt: int, annotations: Dict[str, str]) -> str:
        sandbox_id = self._create(
            container_name("POD", pod, attempt), sandbox_config(pod, annotations)
        )
        self.docker.start(sandbox_id)
        return sandbox_id

    def start_container(
        self,
        pod: StaticPod,
        spec: Dict[str, Any],
        sandbox_id: str,
        attempt: int,
        mounts: List[Tuple[str, str, bool]],
    ) -> str:
        cid = ""
        try:
            config = app_config(pod, spec, sandbox_id, attempt, docker_binds(mounts))
            cid = self._create(container_name(spec["name"], pod, attempt), config)
            self.docker.start(cid)
        except DockerError as exc:
            if not cid and exc.status == 404 and "no such image" in exc.message.lower():
                raise ImageNotPresent(spec["image"]) from None
            # A container that failed to start stays "created": the next sync restarts it.
            reason = "RunContainerError" if cid else "CreateContainerError"
            raise StartFailure(reason, exc.message, bool(cid)) from None
        return cid

    def _create(self, name: str, config: Dict[str, Any]) -> str:
        try:
            return self.docker.create(name, config)
        except DockerError as exc:
            if exc.status != 409:
                raise
            self.docker.remove(name)  # a leftover of an interrupted sync holds the name
            return self.docker.create(name, config)

    def stop_container(self, c: RuntimeContainer, grace: int) -> None:
        self.docker.stop(c.id, grace)

    def stop_sandbox(self, sandbox: RuntimeContainer) -> None:
        self.docker.stop(sandbox.id, 0)

    def remove(self, c: RuntimeContainer) -> None:
        self.docker.remove(c.id)  # the sandbox's sleep ignores SIGTERM as PID 1: just kill it


def _cri_state(state: int) -> str:
    """CRI container states in the words RuntimeContainer uses (Docker's)."""
    return {
        cri.CONTAINER_CREATED: "created",
        cri.CONTAINER_RUNNING: "running",
        cri.CONTAINER_EXITED: "exited",
    }.get(state, "unknown")


def runtime_containers_from_cri(
    sandboxes: List[Dict[str, Any]], containers: List[Dict[str, Any]], node: str
) -> Dict[str, PodContainers]:
    """ListPodSandbox and ListContainers answers grouped into pods, like group_by_pod."""
    pods: Dict[str, PodContainers] = {}
    for s in sandboxes:
        labels, meta = s["labels"], s["metadata"] or {}
        uid, name = labels.get("io.kubernetes.pod.uid"), labels.get("io.kubernetes.pod.name")
        if not uid or not name or not name.endswith("-" + node):
            continue
        ready = s["state"] == cri.SANDBOX_READY
        pods.setdefault(uid, PodContainers()).sandboxes.append(
            RuntimeContainer(
                id=s["id"],
                pod_uid=uid,
                pod_name=name,
                namespace=labels.get("io.kubernetes.pod.namespace", "default"),
                container="POD",
                attempt=meta.get("attempt", 0),
                state="running" if ready else "exited",
                created=s["created_at"],
                sandbox_id=s["id"],
                ip="",
                grace=DEFAULT_GRACE,
            )
        )
    for c in containers:
        labels, meta = c["labels"], c["metadata"] or {}
        uid, name = labels.get("io.kubernetes.pod.uid"), labels.get("io.kubernetes.pod.name")
        if not uid or not name or not name.endswith("-" + node):
            continue
        grace = c["annotations"].get("io.kubernetes.pod.terminationGracePeriod", "")
        container = RuntimeContainer(
            id=c["id"],
            pod_uid=uid,
            pod_name=name,
            namespace=labels.get("io.kubernetes.pod.namespace", "default"),
            container=labels.get("io.kubernetes.container.name") or meta.get("name", ""),
            attempt=meta.get("attempt", 0),
            state=_cri_state(c["state"]),
            created=c["created_at"],
            sandbox_id=c["pod_sandbox_id"],
            ip="",
            grace=int(grace) if grace.isdigit() else DEFAULT_GRACE,
        )
        pods.setdefault(uid, PodContainers()).containers.setdefault(container.container, []).append(
            container
        )
    for pod in pods.values():
        for history in [pod.sandboxes, *pod.containers.values()]:
            history.sort(key=lambda c: (c.attempt, c.created), reverse=True)
    return pods


def detail_from_cri(status: Dict[str, Any]) -> ContainerDetail:
    """ContainerStatus as a ContainerDetail: containerd gives the reason itself (Completed,
    Error, OOMKilled, StartError)."""
    if status.get("state") == cri.CONTAINER_CREATED:
        return ContainerDetail("", "", 128, "StartError")  # made, never started
    return ContainerDetail(
        cri.rfc3339(status.get("started_at", 0)),
        cri.rfc3339(status.get("finished_at", 0)),
        int(status.get("exit_code", 0)),
        status.get("reason", ""),
    )


class CRIRuntime:
    """Pods through the CRI, as the kubelet's kuberuntime manager runs them."""

    name = "containerd"

    def __init__(self, client: Any) -> None:
        self.cri = client
        self._ips: Dict[str, str] = {}  # sandbox id -> pod IP (it never changes)
        self._attempts: Dict[str, int] = {}  # sandbox id -> attempt
        self._annotations: Dict[str, Dict[str, str]] = {}  # sandbox id -> its annotations

    def _call(self, method: Callable[..., Any], *args: Any) -> Any:
        try:
            return method(*args)
        except cri.CRIError as exc:
            raise RuntimeCallError(exc.code, exc.message, str(exc)) from None

    def pods(self, node: str) -> Dict[str, PodContainers]:
        sandboxes = self._call(self.cri.list_pod_sandbox)
        containers = self._call(self.cri.list_containers)
        pods = runtime_containers_from_cri(sandboxes, containers, node)
        live = set()
        for s in sandboxes:
            live.add(s["id"])
            self._attempts[s["id"]] = (s["metadata"] or {}).get("attempt", 0)
            self._annotations[s["id"]] = s["annotations"]
        for pod in pods.values():
            sandbox = pod.sandbox
            if sandbox is not None and sandbox.alive:
                if sandbox.id not in self._ips:
                    status = self._call(self.cri.pod_sandbox_status, sandbox.id)
                    self._ips[sandbox.id] = (status.get("network") or {}).get("ip", "")
                sandbox.ip = self._ips[sandbox.id]
        for cache in (self._ips, self._attempts, self._annotations):
            for key in set(cache) - live:
                del cache[key]
        return pods

    def detail(self, c: RuntimeContainer) -> ContainerDetail:
        return detail_from_cri(self._call(self.cri.container_status, c.id))

    def run_sandbox(self, pod: StaticPod, attempt: int, annotations: Dict[str, str]) -> str:
        config = cri_sandbox_config(pod, attempt, annotations)
        os.makedirs(config["log_directory"], mode=0o755, exist_ok=True)  # the kubelet makes it
        sandbox_id = self._call(self.cri.run_pod_sandbox, config)
        self._attempts[sandbox_id] = attempt
        self._annotations[sandbox_id] = annotations
        return sandbox_id

    def start_container(
        self,
        pod: StaticPod,
        spec: Dict[str, Any],
        sandbox_id: str,
        attempt: int,
        mounts: List[Tuple[str, str, bool]],
    ) -> str:
        # EnsureImageExists: the kubelet decides what a missing image means (ImagePulls).
        try:
            present = self.cri.image_present(spec["image"])
        except cri.CRIError as exc:
            raise StartFailure("ErrImageInspect", str(exc), False) from None
        if not present:
            raise ImageNotPresent(spec["image"])
        sandbox_config = cri_sandbox_config(
            pod, self._attempts.get(sandbox_id, 0), self._annotations.get(sandbox_id, {})
        )
        config = cri_container_config(pod, spec, attempt, mounts)
        os.makedirs(
            os.path.join(sandbox_config["log_directory"], spec["name"]), mode=0o755, exist_ok=True
        )
        try:
            cid = self.cri.create_container(sandbox_id, config, sandbox_config)
        except cri.CRIError as exc:
            raise StartFailure("CreateContainerError", exc.message, False) from None
        try:
            self.cri.start_container(cid)
        except cri.CRIError as exc:
            raise StartFailure("RunContainerError", exc.message, True) from None
        return cid

    def stop_container(self, c: RuntimeContainer, grace: int) -> None:
        self._call(self.cri.stop_container, c.id, grace)

    def stop_sandbox(self, sandbox: RuntimeContainer) -> None:
        self._call(self.cri.stop_pod_sandbox, sandbox.id)

    def remove(self, c: RuntimeContainer) -> None:
        """RemoveContainer, or for a sandbox what the GC's removeSandbox does: StopPodSandbox
        then RemovePodSandbox. Gone already counts as removed."""
        try:
            if c.container == "POD":
                self.cri.stop_pod_sandbox(c.id)
                self.cri.remove_pod_sandbox(c.id)
            else:
                self.cri.remove_container(c.id)
        except cri.CRIError as exc:
            if exc.code != "NOT_FOUND":
                raise RuntimeCallError(exc.code, exc.message, str(exc)) from None


def make_runtime(settings: Settings, env: Mapping[str, str]) -> Any:
    """The CRI on the endpoint the kubelet is given; Docker when that endpoint is cri-dockerd's
    or none is set (the lab's Fedora node runs dockerd, as in the seed walkthrough)."""
    endpoint = settings.runtime_endpoint
    if not endpoint or endpoint in DOCKER_ENDPOINTS:
        return DockerRuntime(DockerClient(env))
    try:
        return CRIRuntime(cri.CRIClient(endpoint))
    except cri.CRIError as exc:
        raise ConfigError(f"container runtime endpoint {endpoint}: {exc.message}") from None


# -- the kubelet: sources in, containers out --------------------------------------------------


class Terminator:
    """Stops pods and containers in background threads, as the kubelet's pod workers do, so
    that one pod's 30 s grace period does not stall the sync loop for all the others."""

    def __init__(self, runtime: Any, root_dir: str) -> None:
        self.runtime, self.root_dir = runtime, root_dir
        self._busy: set = set()
        self._lock = threading.Lock()

    def busy(self, key: str) -> bool:
        with self._lock:
            return key in self._busy

    def _in_background(self, key: str, work: Callable[[], None]) -> None:
        with self._lock:
            if key in self._busy:
                return
            self._busy.add(key)

        def run() -> None:
            try:
                work()
            except (RuntimeCallError, OSError) as exc:
                log("E", "pod_workers.go", "Termination failed, will retry", key=key, err=exc)
            finally:
                with self._lock:
                    self._busy.discard(key)

        threading.Thread(target=run, daemon=True).start()

    def kill_container(self, c: RuntimeContainer) -> None:
        self._in_background(c.id, lambda: self._stop(c))

    def kill_pod(self, uid: str, pod: PodContainers) -> None:
        self._in_background(uid, lambda: self._kill_pod(uid, pod))

    def _stop(self, c: RuntimeContainer) -> None:
        grace = max(0, min(c.grace, MAX_STOP_GRACE))
        kv = {"pod": c.full_name, "containerName": c.container, "gracePeriod": grace}
        log("I", "kuberuntime_container.go", "Killing container with a grace period", **kv)
        self.runtime.stop_container(c, grace)

    def _kill_pod(self, uid: str, pod: PodContainers) -> None:
        apps = [c for c in pod.everything() if c.alive and c.container != "POD"]
        stoppers = [threading.Thread(target=self._stop, args=(c,)) for c in apps]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join()
        for c in pod.everything():  # containers first, then the sandboxes
            self.runtime.remove(c)
        shutil.rmtree(os.path.join(self.root_dir, "pods", uid), ignore_errors=True)
        namespace, name = pod.full_name.split("/", 1)
        shutil.rmtree(os.path.join(POD_LOGS_DIR, f"{namespace}_{name}_{uid}"), ignore_errors=True)
        log("I", "kubelet.go", "Pod terminated", pod=pod.full_name, podUID=uid)


class Kubelet:
    """The sync loop: read the sources, compare with the engine, act, publish the status."""

    def __init__(self, settings: Settings, runtime: Any) -> None:
        self.settings, self.runtime, self.node = settings, runtime, settings.node_name
        self.host_ip = detect_host_ip()
        path, url = settings.manifest_path, settings.manifest_url
        self.file_source = FileSource(path, self.node) if path else None
        self.watch = DirectoryWatch(path) if path else None
        headers, period = settings.manifest_url_header, settings.http_check_frequency
        self.url_source = URLSource(url, headers, self.node, period) if url else None
        self.backoff = RestartBackoff(settings.backoff_base, BACKOFF_MAX)
        self.terminator = Terminator(runtime, settings.root_dir)
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
        self._event = False

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
                self._event |= self.watch.wait(SYNC_PERIOD)
            else:
                self._stopping.wait(SYNC_PERIOD)

    def _read_file_source(self) -> None:
        if not self.file_source or not self.watch:
            return
        self.watch.arm()
        periodic = time.monotonic() >= self._next_relist
        if periodic or self._event:
            self._event = False
            self.file_source.relist(after_event=not periodic)
            if periodic:
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
            log("I", "kubelet.go", "SyncLoop REMOVE", pod=self._known[uid], podUID=uid)
        self._known = {uid: pod.full_name for uid, pod in desired.items()}
        return desired

    def observe(self) -> Dict[str, PodContainers]:
        return self.runtime.pods(self.node)

    def sync_once(self) -> None:
        desired, observed = self.desired_pods(), self.observe()
        for uid, pod in observed.items():
            if uid not in desired and self.sources_ready() and not self.terminator.busy(uid):
                log("I", "kubelet.go", "Killing unwanted pod", pod=pod.full_name, podUID=uid)
                self.terminator.kill_pod(uid, pod)
        changed = False
        for pod in sorted(desired.values(), key=lambda p: p.full_name):
            if self.terminator.busy(pod.uid) or self._blocked(pod, desired, observed):
                continue
            try:
                changed |= self.sync_pod(pod, observed.get(pod.uid) or PodContainers())
            except (RuntimeCallError, OSError) as exc:
                self._log("E", "Error syncing pod, skipping", pod, err=exc)
        self._publish(desired, self.observe() if changed else observed)
        self.last_sync = time.monotonic()
        self.first_sync.set()

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
                why = f"back-off {self.backoff.delay(key):g}s restarting failed container="
                why += f"{spec['name']} pod={pod.name}_{pod.namespace}({pod.uid})"
                self._waiting[key] = ("CrashLoopBackOff", why)
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
                pod, spec, "ContainerCreating", f"MountVolume.SetUp failed: {exc}"
            )
        try:
            if pull_policy(spec) == "Always":  # a pull every start, present or not
                raise ImageNotPresent(spec["image"])  # and the lab has no registry
            self.runtime.start_container(pod, spec, sandbox, n, mounts)
        except ImageNotPresent:
            failure = self.pulls.failure(pod, spec, time.monotonic())
            # pod_workers.go logs the failed sync with kuberuntime's SyncResult error
            # (pkg/kubelet/container/sync_result.go: failed to %q for %q with %v: %q).
            self.quiet.say(
                ("sync", pod.uid, spec["name"]),
                "E",
                "pod_workers.go",
                "Error syncing pod, skipping",
                err=f'failed to "StartContainer" for "{spec["name"]}" with '
                f"{failure.reason}: {json.dumps(failure.message)}",
                pod=pod.full_name,
                podUID=pod.uid,
            )
            return self._cannot_start(pod, spec, failure.reason, failure.message)
        except StartFailure as exc:
            # A container that failed to start stays as a failed attempt: the next sync
            # restarts it.
            return self._cannot_start(pod, spec, exc.reason, exc.message) or exc.created
        except RuntimeCallError as exc:
            return self._cannot_start(pod, spec, "CreateContainerError", exc.message)
        self._waiting.pop(key, None)
        self.quiet.clear(key)
        self._log("I", "Started container", pod, container=spec["name"], attempt=n)
        return True

    def _cannot_start(self, pod: StaticPod, spec: Dict[str, Any], reason: str, why: str) -> bool:
        """Record why a container waits (shown in /pods) and say so; retried on each sync."""
        key = (pod.uid, spec["name"])
        self._waiting[key] = (reason, why)
        self._warn(
            key, "Failed to start container", pod, container=spec["name"], reason=reason, err=why
        )
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


# -- HTTP: healthz and the read-only port -----------------------------------------------------


def serve_http(kubelet: Kubelet, address: str, port: int, with_pods: bool) -> None:
    """Serve in a daemon thread; retry every 5 s while the port is taken, as the kubelet does."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            path = urllib.parse.urlsplit(self.path).path
            if path == "/healthz":
                code, text = kubelet.healthz()
                self._send(code, "text/plain; charset=utf-8", text.encode())
            elif path == "/pods" and with_pods:
                body = {
                    "kind": "PodList",
                    "apiVersion": "v1",
                    "metadata": {},
                    "items": kubelet.pod_list,
                }
                self._send(200, "application/json", json.dumps(body, default=str).encode())
            else:
                self._send(404, "text/plain; charset=utf-8", b"404 page not found\n")

        def _send(self, code: int, content_type: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass  # a probe every second would drown the journal

    def run() -> None:
        while True:
            try:
                server = ThreadingHTTPServer((address, port), Handler)
            except OSError as exc:
                log(
                    "E",
                    "server.go",
                    "Failed to start HTTP server",
                    address=address,
                    port=port,
                    err=exc,
                )
                time.sleep(5)
                continue
            log("I", "server.go", "Starting HTTP server", address=address, port=port)
            server.serve_forever()

    threading.Thread(target=run, name=f"http-{port}", daemon=True).start()


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
        FEATURE_GATES.update(resolve_feature_gates(settings))
        kubelet = Kubelet(settings, make_runtime(settings, env))
    except ConfigError as exc:
        log("E", "run.go", "command failed", err=exc)
        return 1
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
        backoffBase=settings.backoff_base,
        runtime=kubelet.runtime.name,
        containerRuntimeEndpoint=settings.runtime_endpoint,
    )
    kubelet.run()
    log("I", "server.go", "Stopping; pods are left running")
    return 0


if __name__ == "__main__":
    sys.exit(main())
