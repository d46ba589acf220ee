"""The running kubelet as its command line and configuration file show it: where it reads
static pods, the settings of its configuration file, when it started, the node IP it
reports, and whether it is healthy."""

import os

from ..protocol import flag_value
from .files import read_text


# A setting of the kubelet's configuration file is scanned without ``re``: importing it costs
# a facts call more CPU than everything it reads (see jsonfast). The scan gives what the
# regular expression in its docstring gives, which the unit tests check on the same inputs.
def yaml_setting(text, key):
    """The first match of ``^KEY:\\s*['"]?([^'"\\s#]+)`` (re.M) in ``text``, or None: the value
    of a top-level ``key: value`` line of a YAML file (staticPodPath, containerRuntimeEndpoint
    in a KubeletConfiguration file)."""
    head = key + ":"
    at = 0 if text.startswith(head) else _next_line_start(text, head, 0)
    while at >= 0:
        i = at + len(head)
        n = len(text)
        while i < n and text[i].isspace():  # \s* (may cross lines, as in the pattern)
            i += 1
        if i < n and text[i] in "'\"":
            i += 1
        j = i
        while j < n and text[j] not in "'\"#" and not text[j].isspace():
            j += 1
        if j > i:
            return text[i:j]
        at = _next_line_start(text, head, at + 1)
    return None


def _next_line_start(text, head, start):
    """Where ``head`` next begins a line (after a newline) at or after ``start``, or -1."""
    i = text.find("\n" + head, max(start - 1, 0))
    return -1 if i < 0 else i + 1


def _static_pod_path(text):
    r"""``^staticPodPath:\s*['"]?([^'"\s#]+)`` (re.M) in a KubeletConfiguration file."""
    return yaml_setting(text, "staticPodPath")


# fileCheckFrequency's default (pkg/kubelet/apis/config/v1beta1/defaults.go), which is also
# what a zero in the config file becomes (kubeadm writes "0s").
DEFAULT_FILE_CHECK_FREQUENCY = 20.0
_DURATION_UNITS = (("ns", 1e-9), ("us", 1e-6), ("\u00b5s", 1e-6), ("ms", 1e-3), ("s", 1.0))
_DURATION_UNITS += (("m", 60.0), ("h", 3600.0))


def go_duration(text):
    """Seconds in a Go duration (time.ParseDuration: "20s", "1m30s", "500ms", "0"), or None."""
    if text == "0":
        return 0.0
    total, i, n = 0.0, 0, len(text)
    if not text:
        return None
    while i < n:
        j = i
        while j < n and (text[j].isdigit() or text[j] == "."):
            j += 1
        if j == i:
            return None
        try:
            number = float(text[i:j])
        except ValueError:
            return None
        for unit, seconds in sorted(_DURATION_UNITS, key=lambda u: -len(u[0])):
            if text.startswith(unit, j):
                total += number * seconds
                i = j + len(unit)
                break
        else:
            return None
    return total


def _file_check_frequency(cmdline, config_text):
    """How often the kubelet re-lists its manifest directory, in seconds, or None when its
    settings do not tell: --file-check-frequency (taken as it is), else fileCheckFrequency
    in its config file, zero and absent being 20 s."""
    flag = flag_value(cmdline, "--file-check-frequency")
    if flag:
        return go_duration(flag)
    value = yaml_setting(config_text or "", "fileCheckFrequency")
    if value is None:
        return DEFAULT_FILE_CHECK_FREQUENCY
    seconds = go_duration(value)
    return DEFAULT_FILE_CHECK_FREQUENCY if seconds == 0 else seconds


def kubelet_dirs(units):
    """Manifest directories the running kubelets were started with: --pod-manifest-path,
    or staticPodPath in their --config file."""
    found = []
    for props in units.values():
        cmdline = props.get("cmdline") or []
        path = flag_value(cmdline, "--pod-manifest-path")
        if path:
            found.append(path.rstrip("/") or "/")
        config = flag_value(cmdline, "--config")
        if config:
            value = _static_pod_path(read_text(config) or "")
            if value:
                found.append(value.rstrip("/") or "/")
    return found


def process_start(pid):
    """When process ``pid`` started (seconds since the epoch), from /proc: its start time
    in clock ticks since boot (field 22 of /proc/PID/stat, proc(5)) plus the boot time
    (btime in /proc/stat). None when it cannot be read."""
    try:
        with open("/proc/%d/stat" % int(pid), "rb") as fh:
            stat = fh.read(4096).decode("ascii", "replace")
        with open("/proc/stat", "rb") as fh:
            btime = [line for line in fh.read(65536).split(b"\n") if line.startswith(b"btime ")]
        # The command name (field 2) is in parentheses and may hold spaces: split after it.
        fields = stat[stat.rindex(")") + 2 :].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return int(btime[0].split()[1]) + int(fields[19]) / float(ticks)
    except (OSError, ValueError, IndexError):
        return None


def running_kubelets(units, started=process_start):
    """What each running kubelet watches, from its command line and its --config file as
    it was when the kubelet started: {unit: {pid, started, manifest_dir, source, config,
    config_mtime, config_changed, file_check_frequency}}.

    A flag beats the config file (cmd/kubelet/app/server.go applies the command line over
    the file, kubeletConfigFlagPrecedence). A config file written after the process
    started may not be what it read: then the directory is unknown (None, with
    config_changed true) unless a flag names it."""
    found = {}
    for unit, props in units.items():
        cmdline = props.get("cmdline")
        pid = int(props.get("MainPID") or 0)
        if not cmdline or not pid:
            continue
        info = {
            "pid": pid,
            "started": started(pid),
            "manifest_dir": None,
            "source": None,
            "config": flag_value(cmdline, "--config"),
            "config_mtime": None,
            "config_changed": False,
        }
        flag = flag_value(cmdline, "--pod-manifest-path")
        config_text = None  # the --config file's text, once read
        if flag:
            info.update({"manifest_dir": flag.rstrip("/") or "/", "source": "flag"})
        elif info["config"]:
            try:
                info["config_mtime"] = os.stat(info["config"]).st_mtime
            except OSError:
                pass
            changed = (
                info["config_mtime"] is not None
                and info["started"] is not None
                and info["config_mtime"] > info["started"]
            )
            info["config_changed"] = changed
            config_text = read_text(info["config"]) or ""
            value = _static_pod_path(config_text)
            if value and not changed:
                info.update({"manifest_dir": value.rstrip("/") or "/", "source": "config"})
        else:
            info["source"] = "none"  # no static pods at all
        if info["config_changed"] and not flag_value(cmdline, "--file-check-frequency"):
            info["file_check_frequency"] = None  # what it read is not known
        else:
            if config_text is None and info["config"]:
                config_text = read_text(info["config"])
            info["file_check_frequency"] = _file_check_frequency(cmdline, config_text)
        found[unit] = info
    return found


def wait_healthy(node, unit, url, timeout):
    """True once the unit is active and the kubelet's healthz answers 200."""
    deadline = node.clock.monotonic() + timeout
    while node.clock.monotonic() < deadline:
        if node.systemd.is_active(unit) and node.healthz(url):
            return True
        node.clock.sleep(0.5)
    return False


def kubelet_node_ip(cmdlines):
    """The node IP a kubelet reports from its command line (pkg/kubelet/nodestatus/setters.go
    NodeAddress): --node-ip's first address (a dual-stack "ipv4,ipv6" list's primary), unless
    it is unspecified (0.0.0.0 or ::, which only choose the family); else an IP given as
    --hostname-override. None when neither: the kubelet then looks the node name up in DNS or
    takes the default route's interface."""
    import ipaddress

    for cmdline in cmdlines or []:
        for flag in ("--node-ip", "--hostname-override"):
            value = (flag_value(cmdline, flag) or "").split(",")[0].strip()
            try:
                address = ipaddress.ip_address(value)
            except ValueError:
                continue
            if not address.is_unspecified:
                return str(address)
    return None
