"""spctl rollback: put back the previous version of pods, from the backups on each node."""

from __future__ import annotations

from typing import Any

from .pods_verb import pods_verb


def _plan_rollback() -> Any:
    from spctl.plan.directory import plan_rollback

    return plan_rollback


rollback = pods_verb(
    "rollback",
    "Put back the previous version of pods (from the backups on each node).",
    _plan_rollback,
)
