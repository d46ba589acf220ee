"""The decoded, defaulted pod and its UID (standin/defaults.py, quantity.py): what the kubelet
counts as the same pod (applyDefaults in pkg/kubelet/config/common.go hashes the decoded,
defaulted Go structs) and what it counts as another; and spctl's own model of the same
(spctl/desired/pod_identity.py) agreeing on every pair."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import yaml
from spctl_lab.standin import quantity
from spctl_lab.standin.defaults import decoded_pod, defaulted_pod
from spctl_lab.standin.manifests import compute_uid
from spctl_lab.standin.pod_fields import FIELDS

from spctl.desired.pod_identity import same_pod
from tests.fakes.standin import NODE, listed, logged_errors, seed, write

Change = Callable[[dict[str, Any]], None]


def _uid(pod: dict[str, Any]) -> str:
    return compute_uid(pod, NODE, "/etc/kubelet.d/static-web.yaml", "file")


def _changed(change: Change) -> dict[str, Any]:
    pod = seed()
    change(pod)
    return pod


def _spec(**fields: Any) -> Change:
    return lambda pod: pod["spec"].update(fields)


def _web(**fields: Any) -> Change:
    return lambda pod: pod["spec"]["containers"][0].update(fields)


def _volume(**source: Any) -> Change:
    """A volume v of ``source`` (name included)."""
    return lambda pod: pod["spec"].update(volumes=[{"name": "v", **source}])


def _web_limits(**limits: Any) -> Change:
    return _web(resources={"limits": limits})


# (id, first, second): pods the kubelet gives one UID.
SAME: list[tuple[str, Change, Change]] = [
    ("hostNetwork false", _spec(), _spec(hostNetwork=False)),
    ("workingDir empty", _web(), _web(workingDir="")),
    ("tty false, stdin false", _web(), _web(tty=False, stdin=False)),
    ("hostPort 0", _web(), _web(ports=[{"name": "web", "containerPort": 80, "hostPort": 0}])),
    ("resources {}", _web(), _web(resources={})),
    (
        "probe initialDelaySeconds 0",
        _web(livenessProbe={"tcpSocket": {"port": 80}}),
        _web(livenessProbe={"tcpSocket": {"port": 80}, "initialDelaySeconds": 0}),
    ),
    ("null is left out", _web(), _web(command=None, securityContext=None)),
    ("a field no Go type has", _spec(), _spec(notAField="x")),
    ("pod securityContext {} is its default", _spec(), _spec(securityContext={})),
    ("enableServiceLinks true is its default", _spec(), _spec(enableServiceLinks=True)),
    (
        "image volume pull policy from :latest",
        _volume(image={"reference": "img:latest"}),
        _volume(image={"reference": "img:latest", "pullPolicy": "Always"}),
    ),
    (
        "image volume pull policy with no tag",
        _volume(image={"reference": "img"}),
        _volume(image={"reference": "img", "pullPolicy": "Always"}),
    ),
    (
        "image volume pull policy from a tag",
        _volume(image={"reference": "img:1"}),
        _volume(image={"reference": "img:1", "pullPolicy": "IfNotPresent"}),
    ),
    (
        "service account token an hour",
        _volume(projected={"sources": [{"serviceAccountToken": {"path": "t"}}]}),
        _volume(
            projected={
                "sources": [{"serviceAccountToken": {"path": "t", "expirationSeconds": 3600}}],
                "defaultMode": 0o644,
            }
        ),
    ),
    (
        "downwardAPI item apiVersion v1",
        _volume(downwardAPI={"items": [{"path": "n", "fieldRef": {"fieldPath": "metadata.name"}}]}),
        _volume(
            downwardAPI={
                "items": [
                    {"path": "n", "fieldRef": {"fieldPath": "metadata.name", "apiVersion": "v1"}}
                ]
            }
        ),
    ),
    (
        "iscsi interface default",
        _volume(iscsi={"targetPortal": "p:3260", "iqn": "iqn.x", "lun": 0}),
        _volume(
            iscsi={"targetPortal": "p:3260", "iqn": "iqn.x", "lun": 0, "iscsiInterface": "default"}
        ),
    ),
    (
        "rbd pool, user, keyring",
        _volume(rbd={"monitors": ["m"], "image": "i"}),
        _volume(
            rbd={
                "monitors": ["m"],
                "image": "i",
                "pool": "rbd",
                "user": "admin",
                "keyring": "/etc/ceph/keyring",
            }
        ),
    ),
    (
        "azureDisk pointers defaulted",
        _volume(azureDisk={"diskName": "d", "diskURI": "u"}),
        _volume(
            azureDisk={
                "diskName": "d",
                "diskURI": "u",
                "cachingMode": "ReadWrite",
                "kind": "Shared",
                "fsType": "ext4",
                "readOnly": False,
            }
        ),
    ),
    (
        "scaleIO storage mode and fsType",
        _volume(scaleIO={"gateway": "g", "system": "s", "secretRef": {"name": "x"}}),
        _volume(
            scaleIO={
                "gateway": "g",
                "system": "s",
                "secretRef": {"name": "x"},
                "storageMode": "ThinProvisioned",
                "fsType": "xfs",
            }
        ),
    ),
    (
        "ephemeral claim volumeMode",
        _volume(ephemeral={"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"]}}}),
        _volume(
            ephemeral={
                "volumeClaimTemplate": {
                    "spec": {"accessModes": ["ReadWriteOnce"], "volumeMode": "Filesystem"}
                }
            }
        ),
    ),
    # SetDefaults_ResourceList rounds up to milli scale: both become 2m, their text dropped.
    ("cpu 1.0001m is 1.0002m", _web_limits(cpu="1.0001m"), _web_limits(cpu="1.0002m")),
    ("cpu 100u is 0.0001", _web_limits(cpu="100u"), _web_limits(cpu="0.0001")),
    ("cpu 1 unquoted", _web_limits(cpu="1"), _web_limits(cpu=1)),
    ("memory written 1Gi either way", _web_limits(memory="1Gi"), _web_limits(memory=" 1Gi ")),
    (
        "a request spelled as its limit",
        _web_limits(cpu="1"),
        _web(resources={"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}),
    ),
]

# (id, first, second): pods the kubelet tells apart, so it restarts one for the other.
DIFFERENT: list[tuple[str, Change, Change]] = [
    ("privileged false is a pointer", _web(), _web(securityContext={"privileged": False})),
    ("runAsUser 0 is a pointer", _web(), _web(securityContext={"runAsUser": 0})),
    ("container securityContext {} is a pointer", _web(), _web(securityContext={})),
    ("enableServiceLinks false", _spec(), _spec(enableServiceLinks=False)),
    ("an empty list is not nil", _web(), _web(args=[])),
    ("an empty map is not nil", _spec(), _spec(nodeSelector={})),
    (
        "empty labels are not nil",
        lambda pod: pod["metadata"].pop("labels"),
        lambda pod: pod["metadata"].update(labels={}),
    ),
    ("hostNetwork true", _spec(), _spec(hostNetwork=True)),
    (
        "service account token two hours",
        _volume(projected={"sources": [{"serviceAccountToken": {"path": "t"}}]}),
        _volume(
            projected={
                "sources": [{"serviceAccountToken": {"path": "t", "expirationSeconds": 7200}}]
            }
        ),
    ),
    (
        "image volume pulled Never",
        _volume(image={"reference": "img:1"}),
        _volume(image={"reference": "img:1", "pullPolicy": "Never"}),
    ),
    ("cpu 1000m is not 1", _web_limits(cpu="1"), _web_limits(cpu="1000m")),
    ("cpu 1m keeps its text, 100u does not", _web_limits(cpu="1m"), _web_limits(cpu="100u")),
    ("cpu 1.0001m is not 2.0001m", _web_limits(cpu="1.0001m"), _web_limits(cpu="2.0001m")),
    ("memory 1Gi is not 1073741824", _web_limits(memory="1Gi"), _web_limits(memory=1073741824)),
    ("emptyDir {} is a source", _volume(), _volume(emptyDir={"medium": "Memory"})),
]


def _container(**resources: Any) -> dict[str, Any]:
    return {"name": "web", "image": "spctl-lab/pod:1.0", "resources": resources}


def _ids(cases: list[tuple[str, Change, Change]]) -> list[str]:
    return [case[0] for case in cases]


@pytest.mark.parametrize("name, first, second", SAME, ids=_ids(SAME))
def test_the_kubelet_equal_forms_have_one_uid(name, first, second) -> None:
    assert _uid(_changed(first)) == _uid(_changed(second)), name


@pytest.mark.parametrize("name, first, second", DIFFERENT, ids=_ids(DIFFERENT))
def test_forms_the_kubelet_tells_apart_have_two_uids(name, first, second) -> None:
    assert _uid(_changed(first)) != _uid(_changed(second)), name


def test_the_pod_is_used_decoded_and_defaulted() -> None:
    """What runs the pod reads the Go structs' view: zero values of plain fields gone,
    pointers kept, defaults filled."""
    pod = seed(hostNetwork=False, volumes=[{"name": "v", "image": {"reference": "img"}}])
    web = pod["spec"]["containers"][0]
    web.update(workingDir="", securityContext={"privileged": False}, args=[])
    spec = defaulted_pod(pod)["spec"]
    assert "hostNetwork" not in spec
    assert spec["volumes"] == [{"name": "v", "image": {"reference": "img", "pullPolicy": "Always"}}]
    used = spec["containers"][0]
    assert "workingDir" not in used
    assert used["securityContext"] == {"privileged": False}
    assert used["args"] == []


def test_decoding_drops_what_the_types_do_not_hold() -> None:
    manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x", "labels": {"a": None}}}
    manifest["spec"] = {"containers": [{"name": "c", "image": "i", "colour": "red"}], "x": 1}
    assert decoded_pod(manifest) == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "x", "labels": {"a": ""}},  # a null in a map[string]string
        "spec": {"containers": [{"name": "c", "image": "i"}]},
    }


@pytest.mark.parametrize(
    "written, fields",
    [
        ("1", ("i", 1, 0, "1", "DecimalSI")),
        ("1000m", ("i", 1000, -3, "", "DecimalSI")),  # not canonical: no string kept
        ("100u", ("i", 100, -6, "100u", "DecimalSI")),
        ("1Gi", ("i", 1 << 30, 0, "1Gi", "BinarySI")),
        ("1536Mi", ("i", 1536 << 20, 0, "", "BinarySI")),
        ("1.5Gi", ("d", 1610612736 * 10**9, 9, "BinarySI")),  # inf.Dec, rounded to nano
        ("1e3", ("i", 1, 3, "1e3", "DecimalExponent")),
        ("0", ("i", 0, 0, "0", "DecimalSI")),
        (0.5, ("i", 5, -1, "", "DecimalSI")),  # JSON text 0.5
        (1e-7, ("i", 1, -7, "", "DecimalExponent")),  # JSON text 1e-7
    ],
)
def test_parse_quantity_fields(written, fields) -> None:
    """ParseQuantity (apimachinery pkg/api/resource/quantity.go) by its fields."""
    assert quantity.decoded(written) == fields


@pytest.mark.parametrize(
    "written, error",
    [
        ("1\n", quantity.FORMAT_WRONG),  # the newline reaches UnmarshalJSON escaped: \\n
        ("", quantity.FORMAT_WRONG),
        (True, quantity.FORMAT_WRONG),
        ("1Q", quantity.FORMAT_WRONG),  # Q is no suffix letter at all
        ("1kk", quantity.SUFFIX),  # suffix letters, but no suffix
        ("1e", quantity.SUFFIX),
    ],
)
def test_quantities_parse_quantity_refuses(written, error) -> None:
    with pytest.raises(quantity.QuantityError) as refused:
        quantity.decoded(written)
    assert str(refused.value) == error


def test_a_quantity_the_decoder_refuses_makes_the_file_no_pod(tmp_path, capsys) -> None:
    """The kubelet's decoder fails on the quantity before it checks the pod: the file is
    logged as no pod (config/file.go's "couldn't parse as pod(...)") and nothing runs."""
    write(tmp_path, "static-web.yaml", seed(containers=[_container(limits={"cpu": "1kk"})]))
    assert listed(tmp_path) == {}
    err = capsys.readouterr().err
    assert any(
        "couldn't parse as pod(unable to parse quantity's suffix)" in line
        for line in logged_errors(err)
    ), err


@pytest.mark.parametrize(
    "written, rounded",
    [
        ("1", ("i", 1, 0, "1", "DecimalSI")),  # coarser than milli: untouched, string kept
        ("1m", ("i", 1, -3, "1m", "DecimalSI")),
        ("100u", ("i", 1, -3, "", "DecimalSI")),  # rounded up, the string cleared
        ("-1500u", ("i", -2, -3, "", "DecimalSI")),  # away from zero (negativeScaleInt64)
        ("1.5Gi", ("d", 1610612736000, 3, "BinarySI")),
    ],
)
def test_resource_lists_round_up_to_milli(written, rounded) -> None:
    """SetDefaults_ResourceList: Quantity.RoundUp(-3) (quantity.go, amount.go AsScale)."""
    assert quantity.rounded_up_to_milli(quantity.decoded(written)) == rounded


def _paths() -> dict[str, list[tuple[str, bool]]]:
    """The shortest way from a Pod to each struct it holds (status left out), as (JSON field,
    whether it is a list) steps, from the Go types (standin/pod_fields.py)."""
    paths: dict[str, list[tuple[str, bool]]] = {"Pod": []}
    queue = ["Pod"]
    while queue:
        struct = queue.pop(0)
        for field, kind in sorted(FIELDS[struct].items()):
            base = kind.lstrip("*")
            if not base.startswith(("S:", "[]S:")) or field == "status":
                continue
            target = base.split(":", 1)[1]
            if target not in paths:
                paths[target] = [*paths[struct], (field, base.startswith("[]"))]
                queue.append(target)
    return paths


def _set(path: list[tuple[str, bool]], field: str, value: Any) -> Change:
    def change(pod: dict[str, Any]) -> None:
        node = pod
        for key, is_list in path:
            if is_list:
                items = node.setdefault(key, [])
                if not items:
                    items.append({"name": "v"} if key == "volumes" else {})
                node = items[0]
            else:
                node = node.setdefault(key, {})
        node[field] = value

    return change


def _zero_pairs() -> list[tuple[str, Change, Change]]:
    """Every field of every struct a Pod holds, left out (null) against each zero value a
    manifest can write for it: false, 0, "" for a scalar, {} for a struct or a map, [] for a
    list, 0 and "" for an IntOrString. Where the Go field is a pointer, has a default or is
    no scalar, the kubelet may tell them apart; the two models must say the same."""
    zeros = {"v": [False, 0, ""], "m": [{}], "rl": [{}], "ios": [0, ""]}
    pairs = []
    for struct, path in _paths().items():
        for field, kind in sorted(FIELDS[struct].items()):
            base = kind.lstrip("*")
            written = zeros.get(base, [{}] if base.startswith("S:") else [[]])
            where = ".".join([*(key for key, _ in path), field])
            for zero in written:
                name = f"{struct}: {where}: {zero!r}"
                pairs.append((name, _set(path, field, None), _set(path, field, zero)))
    return pairs


# The pairs for the two models: every case above but the unknown field (spctl's validation
# refuses one before it compares, so its same_pod keeps it), and every zero value.
CROSS = [case for case in SAME + DIFFERENT if case[0] != "a field no Go type has"]


def test_spctl_and_the_stand_in_agree_on_every_pair() -> None:
    """spctl's same_pod (spctl/desired/pod_identity.py) and the stand-in's UID, each read from
    the Go sources on its own, give the same verdict on every pair."""
    pairs = CROSS + _zero_pairs()
    assert len(pairs) > 1000
    verdicts = {}
    for name, first, second in pairs:
        a, b = _changed(first), _changed(second)
        stand_in = _uid(a) == _uid(b)
        verdicts[name] = (stand_in, same_pod(yaml.safe_dump(a), yaml.safe_dump(b)))
    assert {name: v for name, v in verdicts.items() if v[0] != v[1]} == {}
    assert {v for v, _ in verdicts.values()} == {True, False}  # both verdicts occur
