"""spctl remove: take static pods spctl deployed off nodes, and wait until they are gone."""

from __future__ import annotations

from typing import Any

from .pods_verb import pods_verb


def _plan_remove() -> Any:
    from spctl.plan.directory import plan_remove

    return plan_remove


remove = pods_verb(
    "remove", "Remove static pods spctl deployed, and wait until they are gone.", _plan_remove
)
