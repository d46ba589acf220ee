"""same_pod: the kubelet's verdict on whether a new manifest is a new pod.

The kubelet hashes the decoded, defaulted pod (applyDefaults, pkg/kubelet/config/common.go;
hash.DeepHashObject prints the Go structs, a Quantity by its fields); the expected values
below follow ParseQuantity and RoundUp (apimachinery pkg/api/resource/quantity.go) and the
defaults of pkg/apis/core/v1/defaults.go.
"""

from __future__ import annotations

import pytest

from spctl.desired.pod_identity import same_pod
from spctl.desired.validation.kubelet.quantity import (
    QuantityError,
    decoded_quantity,
    go_json_number,
    parsed_quantity,
    rounded_to_milli,
)

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: web
    image: reg/web:1.0
{extra}"""


def pod(extra: str = "", spec: str = "") -> str:
    return POD.format(extra=extra) + spec


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("    ports: [{containerPort: 80}]\n", "    ports: [{containerPort: 80, protocol: TCP}]\n"),
        ("", "    imagePullPolicy: IfNotPresent\n"),
        (
            "",
            "    terminationMessagePolicy: File\n    terminationMessagePath: /dev/termination-log\n",
        ),
        ("    resources: {limits: {cpu: 1}}\n", '    resources: {limits: {cpu: "1"}}\n'),
        ("    resources: {limits: {cpu: 1}}\n", "    resources: {limits: {cpu: 1.0}}\n"),
        (
            "    resources: {limits: {cpu: 1}}\n",
            "    resources: {limits: {cpu: 1}, requests: {cpu: 1}}\n",
        ),
        (
            "    resources: {limits: {cpu: 1n}}\n",
            "    resources: {limits: {cpu: 2n}}\n",
        ),  # both 1m, no string kept
        (
            "    livenessProbe: {tcpSocket: {port: 80}}\n",
            "    livenessProbe: {tcpSocket: {port: 80}, timeoutSeconds: 0, periodSeconds: 10}\n",
        ),
        (
            "    readinessProbe: {httpGet: {port: 80}}\n",
            "    readinessProbe: {httpGet: {port: 80, path: /, scheme: HTTP}}\n",
        ),
        ("    ports: [{containerPort: 80}]\n", "    ports: [{containerPort: 80.0, hostPort: 0}]\n"),
        ("", "    resources: {}\n    stdin: false\n    workingDir: ''\n"),
        ("", "    securityContext: null\n"),
    ],
    ids=[
        "protocol",
        "pull policy",
        "termination message",
        "cpu quoted",
        "cpu 1.0 number",
        "request from limit",
        "rounded up to milli",
        "probe numbers",
        "httpGet",
        "numbers",
        "zero values",
        "null",
    ],
)
def test_spelled_out_defaults_are_the_same_pod(before: str, after: str) -> None:
    assert same_pod(pod(before), pod(after))
    assert same_pod(pod(before), pod(after, "  restartPolicy: Always\n  dnsPolicy: ClusterFirst\n"))


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("    resources: {limits: {cpu: 1}}\n", "    resources: {limits: {cpu: 1000m}}\n"),
        ("    resources: {limits: {cpu: 1}}\n", '    resources: {limits: {cpu: "1.0"}}\n'),
        (
            "    resources: {limits: {memory: 1Gi}}\n",
            "    resources: {limits: {memory: 1073741824}}\n",
        ),
        ("    resources: {limits: {cpu: 1}}\n", "    resources: {limits: {cpu: 2}}\n"),
        ("", "    imagePullPolicy: Always\n"),
        ("", "    securityContext: {privileged: false}\n"),
        ("", "    securityContext: {}\n"),
        ("", "    ports: []\n"),
        ("    ports: [{containerPort: 80}]\n", "    ports: [{containerPort: 80, protocol: UDP}]\n"),
        (
            "    readinessProbe: {httpGet: {port: 80}}\n",
            "    readinessProbe: {httpGet: {port: '80'}}\n",
        ),
    ],
    ids=[
        "1000m",
        "cpu text 1.0",
        "Gi vs bytes",
        "cpu 2",
        "pull always",
        "pointer false",
        "empty pointer struct",
        "empty list",
        "UDP",
        "port as a string",
    ],
)
def test_real_changes_are_another_pod(before: str, after: str) -> None:
    assert not same_pod(pod(before), pod(after))


def test_namespace_default_written_out_is_another_pod() -> None:
    """The hash is taken before applyDefaults sets the namespace."""
    assert not same_pod(
        pod(), pod().replace("  name: web\n", "  name: web\n  namespace: default\n")
    )


def test_latest_image_defaults_to_pulling_always() -> None:
    latest = pod().replace("reg/web:1.0", "reg/web")
    assert same_pod(
        latest,
        latest.replace("    image: reg/web\n", "    image: reg/web\n    imagePullPolicy: Always\n"),
    )
    assert not same_pod(
        latest,
        latest.replace(
            "    image: reg/web\n", "    image: reg/web\n    imagePullPolicy: IfNotPresent\n"
        ),
    )


def test_unreadable_text_is_never_the_same_pod() -> None:
    assert not same_pod(pod(), "a: [")


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("1", ("i", 1, 0, "1", "DecimalSI")),
        ("0", ("i", 0, 0, "0", "DecimalSI")),  # the special case keeps "0" as its string
        ("00", ("i", 0, 0, "", "DecimalSI")),
        ("1000m", ("i", 1000, -3, "", "DecimalSI")),  # not canonical: ends in 000
        ("500m", ("i", 500, -3, "500m", "DecimalSI")),
        ("0.5", ("i", 5, -1, "", "DecimalSI")),
        ("1Gi", ("i", 1 << 30, 0, "1Gi", "BinarySI")),
        ("1e3", ("i", 1, 3, "1e3", "DecimalExponent")),
        ("1.5Gi", ("d", 1610612736000000000, 9, "BinarySI")),  # inf.Dec, rounded to nano
        ("100u", ("i", 100, -6, "100u", "DecimalSI")),
    ],
)
def test_parsed_quantity_fields(text: str, fields: tuple) -> None:
    assert parsed_quantity(text) == fields


@pytest.mark.parametrize("text", ["1x", "", "1e"])
def test_parsed_quantity_refuses_what_parse_quantity_refuses(text: str) -> None:
    with pytest.raises(QuantityError):
        parsed_quantity(text)


def test_round_up_to_milli() -> None:
    assert rounded_to_milli(parsed_quantity("1n")) == ("i", 1, -3, "", "DecimalSI")
    assert rounded_to_milli(parsed_quantity("1")) == ("i", 1, 0, "1", "DecimalSI")
    assert rounded_to_milli(parsed_quantity("1.5Gi")) == ("d", 1610612736000, 3, "BinarySI")


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (1, "1"),
        (1.0, "1"),
        (0.5, "0.5"),
        (1e21, "1e+21"),
        (1e-7, "1e-7"),
        (1e16, "10000000000000000"),
    ],
)
def test_numbers_read_through_go_json(number: float, text: str) -> None:
    assert go_json_number(number) == text


def test_decoded_quantity_strips_spaces_as_unmarshal_json_does() -> None:
    assert decoded_quantity(" 1 ") == decoded_quantity(1) == decoded_quantity("1")
    with pytest.raises(QuantityError):
        decoded_quantity(True)


def _cpu(value: str) -> str:
    return pod(f"    resources: {{limits: {{cpu: {value}}}}}\n")


@pytest.mark.parametrize(
    "value",
    [
        '"1e-2000000000"',  # ParseQuantity would round it through 10**(2e9 - 9)
        '"1e2000000000"',
        "1" * 5000,  # a YAML number Python's int() refuses (more than 4300 digits)
        '"' + "1" * 5000 + '"',
        '"0.' + "0" * 5000 + '1"',
    ],
    ids=["tiny exponent", "huge exponent", "long number", "long string", "long fraction"],
)
def test_a_quantity_spctl_does_not_read_is_the_same_pod_only_as_itself(value: str) -> None:
    # A file read from a node can hold anything: same_pod answers at once and never raises.
    assert same_pod(_cpu(value), _cpu(value)) == (not value.isdigit())
    assert not same_pod(_cpu(value), _cpu("1"))
    assert not same_pod(_cpu("1"), _cpu(value))


def test_an_unparsed_quantity_is_not_its_respelling() -> None:
    assert not same_pod(_cpu('"1e-2000000000"'), _cpu('"1.0e-2000000000"'))
    assert not same_pod(_cpu('"1x"'), _cpu('" 1x"'))
    assert same_pod(_cpu('"1x"'), _cpu('"1x"'))


def test_micro_and_nano_quantities_are_read() -> None:
    # suffix.go's u and n: 1000u is 1m after RoundUp(-3), and keeps no string; 1m keeps "1m".
    assert same_pod(_cpu("1000u"), _cpu("1000000n"))
    assert not same_pod(_cpu("1000u"), _cpu("1m"))
