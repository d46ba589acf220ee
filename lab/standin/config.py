"""The kubelet's settings: defaults, the lab's knobs, the KubeletConfiguration file and its
drop-ins, then the flags, which win."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

import yaml

from .flags import parse_go_duration
from .log import FORMATS, log
from .release import OLDEST_RELEASE, RELAXED_ENV, RELEASE
from .restarts import BACKOFF_INITIAL

DEFAULT_CHECK_FREQUENCY = 20.0  # fileCheckFrequency and httpCheckFrequency defaults


class ConfigError(Exception):
    """A configuration the real kubelet refuses to start with."""


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
    logging_format: str = "text"


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
    "logging": ("logging_format", "logging"),
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
    "logging-format": "logging_format",
}

# Real fields the stand-in has no use for (kubeadm writes most of them); any other field
# draws an "unknown field" warning, as the kubelet's lenient decoder gives.
CONFIG_FIELDS_IGNORED = frozenset(
    (  # noqa: SIM905 (a table of names, one word each)
        "apiVersion kind address port enableServer authentication authorization cgroupDriver "
        "cgroupRoot clusterDNS clusterDomain cpuManagerPolicy "
        "cpuManagerReconcilePeriod evictionHard evictionPressureTransitionPeriod failSwapOn "
        "imageGCHighThresholdPercent imageGCLowThresholdPercent imageMaximumGCAge "
        "imageMinimumGCAge kubeReserved maxPods memorySwap nodeStatusReportFrequency "
        "nodeStatusUpdateFrequency podPidsLimit providerID registerNode resolvConf "
        "rotateCertificates runtimeRequestTimeout serializeImagePulls serverTLSBootstrap "
        "shutdownGracePeriod shutdownGracePeriodCriticalPods streamingConnectionIdleTimeout "
        "syncFrequency systemReserved tlsCertFile tlsPrivateKeyFile volumeStatsAggPeriod"
    ).split()
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


# Durations the kubelet's v1beta1 defaulting replaces when they are zero
# (pkg/kubelet/apis/config/v1beta1/defaults.go SetDefaults_KubeletConfiguration:
# "if obj.FileCheckFrequency == zeroDuration { ... 20 * time.Second }"): kubeadm writes
# "fileCheckFrequency: 0s" and the kubelet re-lists every 20 s. Only the config file is
# defaulted; a flag's value is applied after it.
ZERO_MEANS_DEFAULT = ("fileCheckFrequency", "httpCheckFrequency")


def _config_value(name: str, kind: str, value: Any, config_dir: str) -> Any:
    """One config field, typed as the kubelet's decoder would type it, or ConfigError."""
    expected = {"int": int, "multimap": dict, "gates": dict, "logging": dict}.get(kind, str)
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
    if kind == "logging":  # LoggingConfiguration; its other fields are not modelled
        fmt = value.get("format") or "text"
        if not isinstance(fmt, str):
            raise ConfigError(f"kubelet config field {name}.format: unexpected value {fmt!r}")
        return fmt
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
        _apply_config(settings, config, config_dir)
        for dropin in config_dropins(flags.get("config-dir", "")):
            _apply_config(settings, load_kubelet_config(dropin), config_dir)
    for flag, attr in FLAG_SETTINGS.items():
        if flag in flags:
            setattr(settings, attr, flags[flag])
    check_kubeconfigs(flags)
    resolve_feature_gates(settings)  # a gate the release refuses stops the kubelet here
    if min(settings.file_check_frequency, settings.http_check_frequency) < 0:
        raise ConfigError("invalid configuration: check frequencies must not be negative")
    if settings.logging_format not in FORMATS:
        # cmd/kubelet/app/server.go: logsapi.ValidateAndApplyAsField(..., "logging"), and
        # component-base/logs/api/v1/options.go Validate's error for an unknown format.
        raise ConfigError(
            f'initialize logging: logging.format: Invalid value: "{settings.logging_format}": '
            "Unsupported log format"
        )
    if not all(0 <= port <= 65535 for port in (settings.healthz_port, settings.read_only_port)):
        raise ConfigError("invalid configuration: ports must be between 0 and 65535")
    return settings


def _apply_config(settings: Settings, config: Mapping[str, Any], config_dir: str) -> None:
    """One KubeletConfiguration document over the settings. A zero duration the kubelet
    defaults stays what it was (its default, or the lab's knob in its place)."""
    for key, (attr, kind) in CONFIG_FIELDS.items():
        if config.get(key) is None:
            continue
        value = _config_value(key, kind, config[key], config_dir)
        if key in ZERO_MEANS_DEFAULT and value == 0:
            continue
        setattr(settings, attr, value)


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
        raise ConfigError(
            f"failed to read kubelet config dir {directory}: {exc.strerror}"
        ) from None
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
