"""The kubelet's command line by pflag's rules: the flags there are, their kinds, and Go's
syntax for their values."""

from __future__ import annotations

import re
from typing import Any, Dict, List

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
    "logging-format": "string",  # component-base/logs/api/v1 options.go addFlags
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
            raise ValueError(
                f"invalid value of {key.strip()}={value.strip()}, err: {exc}"
            ) from None
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
