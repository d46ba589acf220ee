"""When the kubelet restarts a container: its restartPolicy, and the crash-loop back-off
(pkg/kubelet/kuberuntime/kuberuntime_manager.go doBackOff, with the kubelet's
flowcontrol.Backoff of pkg/kubelet/kubelet.go: containerBackOffPeriod 10 s,
MaxContainerBackOff 300 s)."""

from __future__ import annotations

from typing import Any, Dict, Tuple

BACKOFF_INITIAL = 10.0  # the kubelet's restart back-off starts at 10 s and doubles ...
BACKOFF_MAX = 300.0  # ... up to 5 minutes


def go_duration(seconds: float) -> str:
    """A whole number of seconds as Go's time.Duration String prints it: 10s, 1m20s, 5m0s."""
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes}m{secs}s"


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
