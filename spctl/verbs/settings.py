"""The options that apply to every node of one run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass(frozen=True)
class Settings:
    """Options that apply to every node of one run."""

    host_key_policy: str = "strict"
    connect_timeout: Optional[float] = None
    timeout: float = 300.0  # how long to wait for pods to run (kubeadm's default: 5 minutes)
    stable_for: float = 5.0  # how long a new pod must run without a restart
    wait_lock: float = 0.0
    sudo_password: Optional[str] = field(default=None, repr=False)
    dry_run: bool = False
    #: Overwrite (remove, roll back) files spctl owns that changed on the node since spctl
    #: wrote them; without it such a node's plan is refused (``plan.changed_on_node``).
    force: bool = False
