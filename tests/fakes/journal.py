"""A journal on disk as an agent killed in the middle of a transaction leaves it."""

from __future__ import annotations

import json
from pathlib import Path

from spctl_agent.transaction import journal as journals

from tests.fakes.apply_request import NEW_MANIFEST, OLD_MANIFEST


def write_journal(root: Path, edit) -> Path:
    """A journal of an update of static-web that was killed after writing the manifest,
    changed by ``edit``; the manifest holds the new bytes, as it would."""
    manifest = root / "manifests" / "static-web.yaml"
    record = {
        "version": journals.VERSION,
        "id": "0123456789ab",
        "holder": "alice@ctl",
        "pid": 1,
        "started": "2026-11-28T08:00:00Z",
        "phase": "manifests-written",
        "node_name": "n1",
        "timeout": 30.0,
        "stable_for": 2.0,
        "files": [
            journals.file_entry(
                str(manifest), "manifest", OLD_MANIFEST, 0o644, NEW_MANIFEST, "static-web"
            )
        ],
        "owned_before": {},
        "kubelet": None,
        "pods_before": [],
    }
    edit(record)
    state = root / "state"
    state.mkdir(mode=0o700)
    path = state / "journal.json"
    path.write_text(json.dumps(record))
    manifest.write_bytes(NEW_MANIFEST)
    return path
