"""The kubelet's systemd unit: its properties, its command line, restarting it."""

from .commands import capture, run_command, succeeds, which
from .text import env_file_paths

UNIT_PROPERTIES = (
    "LoadState,ActiveState,SubState,FragmentPath,DropInPaths,Environment,EnvironmentFiles,"
    "ExecStart,MainPID,InvocationID,NRestarts"
)

#: Properties that ``systemctl show`` prints once per entry, one ``Name=value`` line each
#: (src/systemctl/systemctl-show.c, print_property: ``EnvironmentFiles`` as "%s
#: (ignore_errors=%s)" per file, ``ExecStart`` as "{ path=... ; argv[]=... ; ... }" per
#: command). They are reported as lists, every line kept in order.
REPEATED = ("EnvironmentFiles", "ExecStart")


def process_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


class Systemd:
    """systemctl, behind one small object so that tests can stand in for it."""

    def show(self, units):
        """{unit: {property: value, ..., "cmdline": [words] | None}} for each unit."""
        if not units or which("systemctl") is None:
            return {}
        # One process for every unit. systemd exposes these properties only over D-Bus
        # (systemctl is its client): /run/systemd/units/ holds invocation IDs alone, a
        # unit's cgroup.procs lists its processes without saying which is MainPID, and
        # ExecStart, EnvironmentFiles and DropInPaths are systemd's merge of the unit's files.
        stdout = capture(
            ["systemctl", "show", "--no-pager", "-p", UNIT_PROPERTIES]
            + ["%s.service" % u for u in units],
            timeout=30,
        )
        blocks = stdout.split("\n\n")
        result = {}
        for unit, block in zip(units, blocks):
            props = parse_show(block)
            pid = int(props.get("MainPID") or 0)
            props["cmdline"] = process_cmdline(pid) if pid else None
            result[unit] = props
        return result

    def is_active(self, unit):
        return succeeds(["systemctl", "is-active", "--quiet", unit + ".service"])

    def restart(self, unit, daemon_reload=False):
        if daemon_reload:
            run_command(["systemctl", "daemon-reload"], timeout=120)
        # A unit that failed to start several times hits its start limit, and systemd
        # would then refuse this restart too (the rollback's restart above all).
        succeeds(["systemctl", "reset-failed", unit + ".service"])
        run_command(["systemctl", "restart", unit + ".service"], timeout=120)

    def stop(self, unit):
        """Stop the unit; a kubelet's pods keep running without it."""
        run_command(["systemctl", "stop", unit + ".service"], timeout=120)


def parse_show(block):
    """One unit's ``systemctl show`` output as {property: value}; the properties in
    REPEATED are lists of every line's value."""
    props = {}
    for key in REPEATED:
        props[key] = []
    for line in block.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        if key in REPEATED:
            props[key].append(value)
        else:
            props[key] = value
    return props


def environment_file_paths(props):
    """The paths of a unit's EnvironmentFiles lines ("PATH (ignore_errors=yes)")."""
    paths = []
    values = props.get("EnvironmentFiles") or []
    if isinstance(values, str):
        values = [values]
    for value in values:
        paths.extend(env_file_paths(value))
    return paths


def kubelet_cmdlines(units):
    """The command lines of the running units among ``units`` (systemd.show's answer)."""
    return [props["cmdline"] for props in units.values() if props.get("cmdline")]
