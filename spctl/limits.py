"""The control host's own limits, raised at start where the system allows it.

Each node in flight holds a socket (two through a jump host), paramiko's reader thread and
a deadline timer; the fleet's worker count (``--workers``) bounds how many are in flight,
so threads are bounded by it. File descriptors are bounded by RLIMIT_NOFILE, whose soft
limit is often 1024 while the hard limit is far higher: the soft limit is raised to the
hard one, as OpenSSH's ssh-agent and many servers do, so that no node fails for want of
a descriptor on the control host.
"""

from __future__ import annotations

from typing import Any, Optional


def raise_nofile(resource_module: Optional[Any] = None) -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit (capped where the hard limit is
    unlimited); return (soft, hard) as they are afterwards. A platform without the
    resource module, or a refusal, leaves the limit as it was."""
    res: Any = resource_module
    if res is None:
        try:
            import resource as res
        except ImportError:  # not on POSIX
            return (-1, -1)
    soft, hard = res.getrlimit(res.RLIMIT_NOFILE)
    target = hard if hard != res.RLIM_INFINITY else 1 << 20
    if soft == res.RLIM_INFINITY or soft >= target:
        return soft, hard
    try:
        res.setrlimit(res.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        return soft, hard
    return target, hard
