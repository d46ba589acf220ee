"""spctl's restart annotation (``desired.restart_annotation``): set in place or last among
the annotations, in canonical YAML; the node's value kept on the inventory's rendering."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from spctl.desired.render import DesiredPod
from spctl.desired.restart_annotation import (
    RESTARTED_AT,
    kept_restart,
    restarted,
    restarted_at,
    rfc3339,
)
from spctl.desired.yamlio import ManifestError

POD = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers: []\n"


def test_rfc3339_is_utc_to_the_second_or_the_microsecond():
    at = datetime(2026, 12, 8, 1, 2, 3, 450000, tzinfo=timezone(timedelta(hours=2)))
    assert rfc3339(at) == "2026-12-07T23:02:03Z"
    assert rfc3339(at, precise=True) == "2026-12-07T23:02:03.450000Z"


def test_the_annotation_is_added_after_the_others_and_replaced_in_place():
    text = POD.replace("  name: web\n", "  name: web\n  annotations:\n    a: b\n")
    once = restarted(text, "T1", "x")
    assert once == POD.replace(
        "  name: web\n", f"  name: web\n  annotations:\n    a: b\n    {RESTARTED_AT}: T1\n"
    )
    twice = restarted(once, "T2", "x")
    assert twice == once.replace("T1", "T2")
    assert restarted_at(twice) == "T2"


@pytest.mark.parametrize("annotations", ["", "  annotations: null\n", "  annotations: {}\n"])
def test_no_annotations_null_or_empty_get_one(annotations):
    text = POD.replace("  name: web\n", "  name: web\n" + annotations)
    assert restarted(text, "T", "x") == POD.replace(
        "  name: web\n", f"  name: web\n  annotations:\n    {RESTARTED_AT}: T\n"
    )


def test_a_file_that_is_no_manifest_is_an_error_naming_it():
    with pytest.raises(ManifestError) as raised:
        restarted("- a list\n", "T", "node n1: /etc/kubelet.d/web.yaml")
    assert "node n1: /etc/kubelet.d/web.yaml" in str(raised.value)
    assert restarted_at("- a list\n") is None
    assert restarted_at(None) is None


def test_kept_restart_adds_only_the_nodes_annotation():
    pod = DesiredPod("web", "t.yaml.j2", POD)
    assert kept_restart(pod, None) is pod
    assert kept_restart(pod, POD) is pod  # the node's file has none
    node = restarted(POD, "T", "x")
    assert kept_restart(pod, node).content == node
