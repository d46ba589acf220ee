"""What a static pod must pass (standin/validation.py): no API object references, no
ephemeral containers, environment variable names by the release's feature gate."""

from __future__ import annotations

from typing import Any

import pytest
from spctl_lab.standin.release import FEATURE_GATES
from spctl_lab.standin.validation import env_var_name_errors

from tests.fakes.standin import NODE, listed, logged_errors, seed, write

API_REFERENCES = [
    ({"serviceAccountName": "builder"}, "serviceaccounts"),
    ({"serviceAccountName": "default"}, "serviceaccounts"),
    ({"imagePullSecrets": [{"name": "regcred"}]}, "secrets"),
    ({"volumes": [{"name": "s", "secret": {"secretName": "tls"}}]}, "secrets"),
    ({"volumes": [{"name": "c", "configMap": {"name": "cfg"}}]}, "configmaps"),
    (
        {"volumes": [{"name": "p", "projected": {"sources": [{"secret": {"name": "s"}}]}}]},
        "secrets",
    ),
    (
        {"volumes": [{"name": "p", "projected": {"sources": [{"configMap": {"name": "c"}}]}}]},
        "configmaps",
    ),
    (
        {
            "volumes": [
                {"name": "p", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}}
            ]
        },
        "serviceaccounts (via projected volumes)",
    ),
    (
        {
            "volumes": [
                {"name": "p", "projected": {"sources": [{"clusterTrustBundle": {"path": "b"}}]}}
            ]
        },
        "clustertrustbundles",
    ),
    (
        {"volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "c"}}]},
        "persistentvolumeclaims",
    ),
    ({"resourceClaims": [{"name": "gpu"}]}, "resourceclaims"),
    (
        {
            "containers": [
                {
                    "name": "w",
                    "image": "i",
                    "env": [
                        {"name": "P", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
                    ],
                }
            ]
        },
        "secrets",
    ),
    (
        {
            "containers": [
                {
                    "name": "w",
                    "image": "i",
                    "env": [
                        {"name": "P", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}
                    ],
                }
            ]
        },
        "configmaps",
    ),
    (
        {"containers": [{"name": "w", "image": "i", "envFrom": [{"secretRef": {"name": "s"}}]}]},
        "secrets",
    ),
    (
        {"containers": [{"name": "w", "image": "i", "envFrom": [{"configMapRef": {"name": "c"}}]}]},
        "configmaps",
    ),
]


@pytest.mark.parametrize("spec, resource", API_REFERENCES)
def test_static_pods_may_not_reference_api_objects(tmp_path, capsys, spec, resource) -> None:
    write(tmp_path, "static-web.yaml", seed(**spec))
    assert listed(tmp_path) == {}
    assert f"static pods may not reference {resource}" in capsys.readouterr().err


def test_static_pods_may_not_have_ephemeral_containers(tmp_path, capsys) -> None:
    write(tmp_path, "static-web.yaml", seed(ephemeralContainers=[{"name": "debug", "image": "i"}]))
    assert listed(tmp_path) == {}
    assert "spec.ephemeralContainers: Forbidden" in capsys.readouterr().err


@pytest.mark.parametrize(
    "spec",
    [
        {"hostNetwork": True, "restartPolicy": "OnFailure", "terminationGracePeriodSeconds": 5},
        {
            "volumes": [
                {"name": "h", "hostPath": {"path": "/etc/kubernetes"}},
                {"name": "e", "emptyDir": {}},
                {"name": "d", "projected": {"sources": [{"downwardAPI": {"items": []}}]}},
            ]
        },
        {
            "containers": [
                {
                    "name": "w",
                    "image": "i",
                    "env": [
                        {"name": "A", "value": "1"},
                        {"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                    ],
                }
            ]
        },
    ],
)
def test_pods_without_api_references_run(tmp_path, spec) -> None:
    write(tmp_path, "static-web.yaml", seed(**spec))
    assert listed(tmp_path) == {f"static-web-{NODE}": "static-web.yaml"}


@pytest.fixture
def gates():
    """The process-wide feature gates, put back after the test."""
    saved = dict(FEATURE_GATES)
    yield FEATURE_GATES
    FEATURE_GATES.clear()
    FEATURE_GATES.update(saved)


def pod_with_env(name: str) -> dict[str, Any]:
    return seed(containers=[{"name": "w", "image": "i", "env": [{"name": name, "value": "v"}]}])


STRICT_MESSAGE = (
    "a valid environment variable name must consist of alphabetic characters, digits, '_', "
    "'-', or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or "
    "'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')"
)


@pytest.mark.parametrize(
    "name, relaxed, errors",
    [
        ("MY_VAR.name-1", False, []),
        ("1ST_PORT", False, [STRICT_MESSAGE]),
        ("1ST_PORT", True, []),
        ("my var", False, [STRICT_MESSAGE]),
        ("my var", True, []),  # a space is printable ASCII
        ("..x", False, ["must not start with '..'"]),
        ("..", False, ["must not be '..'"]),
        (
            "A=B",
            True,
            [
                "a valid environment variable name must consist only of printable "
                "ASCII characters other than '='"
            ],
        ),
        (
            "tab\there",
            True,
            [
                "a valid environment variable name must consist only of "
                "printable ASCII characters other than '='"
            ],
        ),
        (
            "caf\u00e9",
            True,
            [
                "a valid environment variable name must consist only of "
                "printable ASCII characters other than '='"
            ],
        ),
    ],
)
def test_env_var_names_by_the_gate(gates, name, relaxed, errors) -> None:
    gates["RelaxedEnvironmentVariableValidation"] = relaxed
    assert env_var_name_errors(name) == errors


def test_an_older_release_refuses_a_name_the_newer_one_runs(tmp_path, capsys, gates) -> None:
    write(tmp_path, "static-web.yaml", pod_with_env("1ST_PORT"))
    assert list(listed(tmp_path)) == [f"static-web-{NODE}"]
    gates["RelaxedEnvironmentVariableValidation"] = False
    assert listed(tmp_path) == {}
    [error] = logged_errors(capsys.readouterr().err)
    assert error == (
        f'invalid pod: [spec.containers[0].env[0].name: Invalid value: "1ST_PORT": '
        f"{STRICT_MESSAGE}]"
    )
