"""The kubelet's systemd unit: its properties, its command line, restarting it."""

from ..protocol.systemd_show import UNIT_PROPERTIES, parse_show
from .commands import capture, run_command, succeeds, which


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


def kubelet_cmdlines(units):
    """The command lines of the running units among ``units`` (systemd.show's answer)."""
    return [props["cmdline"] for props in units.values() if props.get("cmdline")]
