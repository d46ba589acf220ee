"""Runs last (files run in name order): `lab down` removes everything the lab made."""

from __future__ import annotations

from .conftest import STATE, LabSession, spctl


def test_lab_down_leaves_nothing_behind(lab: LabSession) -> None:
    client = lab.lab.client
    mine = f"spctl-lab.instance={lab.lab.name}"
    images_before = {i.id for i in client.images.list()}
    done = spctl("lab", "down", inventory=None)
    assert done.returncode == 0, done.stderr
    assert client.containers.list(all=True, filters={"label": mine}) == []
    assert client.volumes.list(filters={"label": mine}) == []
    assert [v.name for v in client.volumes.list() if v.name.startswith(f"{lab.lab.name}-")] == []
    assert client.networks.list(names=[lab.lab.name]) == []
    assert not (STATE / "inventory.yaml").exists()
    # The cached images stay: the next `lab up` builds nothing.
    assert {i.id for i in client.images.list()} == images_before
