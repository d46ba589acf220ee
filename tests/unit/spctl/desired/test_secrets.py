"""Secrets: every reference kind, every error, secret variables in templates, masking.

Keys and age files are made in each test with pyrage (and, where the `age` command is
installed, with it too: a file the age CLI encrypted must decrypt the same). Every error
and repr a test produces is recorded with ``seen`` and checked, after the test, for the
secret's bytes, their base64, a passphrase and any age identity (``no_secret_is_shown``).
"""

from __future__ import annotations

import base64
import copy
import json
import os
import pickle
import re
import shutil
import subprocess
from pathlib import Path

import jinja2
import pyrage
import pytest
from pyrage import x25519

from spctl.desired import secrets
from spctl.desired.fleet import Fleet
from spctl.desired.inventory import load_inventory
from spctl.desired.render import render_pod
from spctl.desired.sandbox import environment
from spctl.desired.secrets import (
    Secret,
    SecretError,
    SecretRef,
    SecretSettings,
    collecting,
    parse_ref,
    redact,
    resolve,
)
from spctl.errors import InventoryError, TemplateError, ValidationError

VALUE = b"s3cr3t-hunter2-\xc3\xa9t\xc3\xa9\n"  # UTF-8, with the newline `echo` leaves
WHERE = "node n1, pod haproxy, file /etc/haproxy/stats.pw"
#: What must never be shown: the secret (with and without its newline, in base64), the
#: passphrase of a passphrase-encrypted file, and any age identity.
FORBIDDEN = (
    VALUE.decode().strip(),
    "s3cr3t",
    base64.b64encode(VALUE).decode().rstrip("="),
    base64.b64encode(VALUE.strip()).decode().rstrip("="),
    "correct horse",
)
AN_IDENTITY = re.compile(r"AGE-SECRET-KEY-1[0-9A-Z]{20,}", re.IGNORECASE)
#: The messages and reprs the running test produced.
SEEN: list[str] = []


def seen(text: object) -> str:
    SEEN.append(str(text))
    return str(text)


def shown_secrets(texts: list[str]) -> list[tuple[str, str]]:
    found = [(v, t) for t in texts for v in FORBIDDEN if v.lower() in t.lower()]
    return found + [("an age identity", t) for t in texts if AN_IDENTITY.search(t)]


@pytest.fixture(autouse=True)
def no_secret_is_shown():
    SEEN.clear()
    yield
    assert shown_secrets(SEEN) == []


def test_the_check_for_shown_secrets_can_fail(key: x25519.Identity) -> None:
    assert shown_secrets([f"error: {VALUE.decode()}"]) and shown_secrets([f"key {key}"])
    assert shown_secrets(["b64 " + base64.b64encode(VALUE).decode()])
    assert shown_secrets([repr(Secret(VALUE)), str(key.to_public())]) == []


@pytest.fixture
def key() -> x25519.Identity:
    return x25519.Identity.generate()


def encrypt_with_pyrage(data: bytes, recipient: str, path: Path, armored: bool = False) -> Path:
    path.write_bytes(pyrage.encrypt(data, [x25519.Recipient.from_str(recipient)], armored=armored))
    return path


def encrypt_with_age_cli(data: bytes, recipient: str, path: Path, armored: bool = False) -> Path:
    plain = path.with_suffix(".plain")
    plain.write_bytes(data)
    args = ["age", "-r", recipient, "-o", str(path)] + (["-a"] if armored else [])
    subprocess.run([*args, str(plain)], check=True, capture_output=True)
    plain.unlink()
    return path


ENCRYPTORS = [encrypt_with_pyrage] + ([encrypt_with_age_cli] if shutil.which("age") else [])


def fails(ref: SecretRef, settings: SecretSettings = SecretSettings(), env=None) -> str:  # noqa: B008
    with pytest.raises(SecretError) as caught:
        resolve(ref, WHERE, settings, env or {})
    return seen(caught.value)


# -- the three kinds -------------------------------------------------------------------


def test_env_reference_reads_the_control_hosts_variable() -> None:
    secret = resolve(SecretRef("env", "STATS_PW"), WHERE, environ={"STATS_PW": "pw-from-env"})
    assert secret.reveal() == b"pw-from-env"


def test_file_reference_reads_a_file_outside_the_inventory(tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "pw").write_bytes(VALUE)
    (tmp_path / "repo").mkdir()
    ref = parse_ref({"file": "../outside/pw"}, "inv: vars.pw.secret", tmp_path / "repo")
    assert ref == SecretRef("file", str(tmp_path / "outside" / "pw"))  # made absolute
    assert resolve(ref, WHERE, environ={}).reveal() == VALUE  # bytes as they are


@pytest.mark.parametrize("encrypt", ENCRYPTORS)
@pytest.mark.parametrize("armored", [False, True])
def test_age_reference_decrypts_with_the_key_from_the_environment(
    tmp_path: Path, key: x25519.Identity, encrypt, armored: bool
) -> None:
    path = encrypt(VALUE, str(key.to_public()), tmp_path / "pw.age", armored)
    ref = parse_ref({"age": "pw.age"}, "inv: vars.pw.secret", tmp_path)
    assert ref.name == str(path)
    secret = resolve(ref, WHERE, environ={secrets.ENV_KEY: str(key)})
    assert secret.reveal() == VALUE


def test_the_key_may_come_from_a_key_file_named_by_the_environment_or_the_inventory(
    tmp_path: Path, key: x25519.Identity
) -> None:
    other = x25519.Identity.generate()
    path = encrypt_with_pyrage(VALUE, str(key.to_public()), tmp_path / "pw.age")
    # As age-keygen writes it: comments, the identity, CRLF line ends are read too.
    key_file = tmp_path / "key.txt"
    key_file.write_text(f"# created: now\r\n# public key: {key.to_public()}\r\n\r\n{key}\r\n")
    ref = SecretRef("age", str(path))
    env = {secrets.ENV_KEY_FILE: str(key_file)}
    assert resolve(ref, WHERE, environ=env).reveal() == VALUE
    in_inventory = SecretSettings(age_key_file=key_file)
    assert resolve(ref, WHERE, in_inventory, environ={}).reveal() == VALUE
    # Precedence: SPCTL_AGE_KEY, then SPCTL_AGE_KEY_FILE, then the inventory's key file.
    wrong_file = tmp_path / "wrong.txt"
    wrong_file.write_text(f"{other}\n")
    assert "SPCTL_AGE_KEY)" not in fails(
        ref, SecretSettings(age_key_file=key_file), {secrets.ENV_KEY_FILE: str(wrong_file)}
    )
    assert secrets.ENV_KEY in fails(ref, in_inventory, {secrets.ENV_KEY: str(other)})
    # A key file with several identities: any of them may be the file's recipient.
    key_file.write_text(f"{other}\n{key}\n")
    assert resolve(ref, WHERE, in_inventory, environ={}).reveal() == VALUE


# -- references as written ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("STATS_PW", "a secret reference is one of `{env: NAME}`"),
        ({"env": "A", "file": "/x"}, "a secret reference is one of"),
        ({"vault": "x"}, "unknown secret kind 'vault'"),
        ({"env": ""}, "env: expected a name or path"),
        ({"env": ["A"]}, "env: expected a name or path, got list"),
        ({"env": "A-B"}, "'A-B' is not an environment variable name"),
        ({"file": 5}, "file: expected a name or path, got int"),
    ],
)
def test_malformed_references_are_named(tmp_path: Path, raw, message: str) -> None:
    with pytest.raises(InventoryError, match="inv: vars.pw.secret") as caught:
        parse_ref(raw, "inv: vars.pw.secret", tmp_path)
    assert message in seen(caught.value)


def test_a_plain_file_inside_the_inventorys_directory_is_refused_with_the_age_way(
    tmp_path: Path,
) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "pw").write_bytes(VALUE)
    with pytest.raises(InventoryError) as caught:
        parse_ref({"file": "secrets/pw"}, "inv: vars.pw.secret", tmp_path)
    message = seen(caught.value)
    assert f"{tmp_path / 'secrets' / 'pw'} is inside the inventory's directory" in message
    assert "`{age: secrets/pw.age}`" in message and "age -r RECIPIENT" in message
    # Also through a symbolic link from outside, and as an absolute path.
    outside = tmp_path.parent / f"{tmp_path.name}-link"
    outside.symlink_to(tmp_path / "secrets" / "pw")
    try:
        for raw in ({"file": str(outside)}, {"file": str(tmp_path / "secrets" / "pw")}):
            with pytest.raises(InventoryError, match="inside the inventory's directory"):
                parse_ref(raw, "inv: vars.pw.secret", tmp_path)
    finally:
        outside.unlink()


INVENTORY = """\
secrets: {age_key_file: keys/age.txt}
defaults:
  vars:
    image: nginx
    db: {user: web, password: {secret: {age: secrets/db.age}}}
    tokens: [{secret: {env: TOKEN_A}}]
nodes:
  n1:
    vars: {stats: {secret: {file: ~/stats.pw}}}
"""


def test_the_inventory_keeps_references_with_absolute_paths(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text(INVENTORY)
    inv = load_inventory(path, ssh_config=tmp_path / "none")
    n1 = inv.nodes["n1"]
    assert n1.vars["db"]["password"] == {"secret": {"age": str(tmp_path / "secrets/db.age")}}
    assert n1.vars["tokens"] == [{"secret": {"env": "TOKEN_A"}}]
    assert n1.vars["stats"] == {"secret": {"file": str(Path("~/stats.pw").expanduser())}}
    assert inv.secrets.age_key_file == n1.secrets.age_key_file == tmp_path / "keys/age.txt"
    json.dumps(n1.as_dict())  # still plain data for `spctl inventory -o json`


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("secrets: [a]\n", "inv.yaml: secrets: expected a mapping with `age_key_file:`"),
        ("secrets: {key: x}\n", "secrets: unknown key 'key'; expected one of age_key_file"),
        ("secrets: {age_key_file: 5}\n", "secrets.age_key_file: expected a file path"),
        (
            "defaults: {vars: {a: {secret: {env: 5}}}}\n",
            "defaults.vars.a.secret.env: expected a name or path",
        ),
        (
            "defaults: {vars: {a: {b: [{secret: {ssm: x}}]}}}\n",
            "defaults.vars.a.b[0].secret: unknown secret kind 'ssm'",
        ),
        ("defaults: {vars: {a: {secret: {file: pw}}}}\n", "inside the inventory's directory"),
    ],
)
def test_bad_secret_settings_in_the_inventory_are_named(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text(text + "nodes: {n1: {}}\n")
    with pytest.raises(InventoryError) as caught:
        load_inventory(path, ssh_config=tmp_path / "none")
    assert message in seen(caught.value)


# -- every error: named, with what to do, and without the secret --------------------------


def test_a_missing_environment_variable(tmp_path: Path) -> None:
    message = fails(SecretRef("env", "STATS_PW"))
    assert message.startswith(WHERE + ": environment variable STATS_PW is not set; export it")


def test_missing_unreadable_oversized_and_special_files(tmp_path: Path) -> None:
    missing = fails(SecretRef("file", str(tmp_path / "nope")))
    assert f"{WHERE}: secret file {tmp_path / 'nope'} not found; create it" in missing
    assert "is not a regular file" in fails(SecretRef("file", str(tmp_path)))
    big = tmp_path / "big"
    big.write_bytes(b"x" * (secrets.MAX_SECRET_BYTES + 1))
    assert f"has {secrets.MAX_SECRET_BYTES + 1} bytes; spctl reads at most" in fails(
        SecretRef("file", str(big))
    )
    assert "not found; encrypt the secret into it" in fails(
        SecretRef("age", str(tmp_path / "nope.age")), env={secrets.ENV_KEY: "x"}
    )
    if os.geteuid() != 0:  # root reads any file
        locked = tmp_path / "locked"
        locked.write_bytes(VALUE)
        locked.chmod(0)
        assert "cannot read secret file" in fails(SecretRef("file", str(locked)))


def test_no_key(tmp_path: Path, key: x25519.Identity) -> None:
    path = encrypt_with_pyrage(VALUE, str(key.to_public()), tmp_path / "pw.age")
    message = fails(SecretRef("age", str(path)))
    assert message.startswith(f"{WHERE}: no age key to decrypt with; set SPCTL_AGE_KEY")
    assert "SPCTL_AGE_KEY_FILE" in message and "age_key_file" in message


@pytest.mark.parametrize(
    ("key_text", "message"),
    [
        (b"# only a comment\n\n", "holds no age identity"),
        (b"# a comment\nAGE-SECRET-KEY-1NOTBECH32\n", "line 2: not an age identity"),
        (b"AGE-PLUGIN-YUBIKEY-1QQQ\n", "line 1: an age plugin identity; spctl reads only native"),
        (b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n", "not an age identity file (an SSH"),
        (b"age-encryption.org/v1\n-> scrypt x 18\n", "is itself encrypted with age"),
        (b"\xff\xfe", "is not UTF-8 text"),
    ],
)
def test_a_bad_key_is_named_by_line_never_shown(
    tmp_path: Path, key: x25519.Identity, key_text: bytes, message: str
) -> None:
    path = encrypt_with_pyrage(VALUE, str(key.to_public()), tmp_path / "pw.age")
    key_file = tmp_path / "key.txt"
    key_file.write_bytes(key_text)
    from_file = fails(SecretRef("age", str(path)), env={secrets.ENV_KEY_FILE: str(key_file)})
    assert f"the key file {key_file} (from SPCTL_AGE_KEY_FILE)" in from_file
    assert message in from_file
    assert "NOTBECH32" not in from_file and "YUBIKEY" not in from_file
    if key_text.strip() and b"\xff" not in key_text:
        from_env = fails(SecretRef("age", str(path)), env={secrets.ENV_KEY: key_text.decode()})
        assert message in from_env and "SPCTL_AGE_KEY" in from_env


def test_a_missing_key_file(tmp_path: Path, key: x25519.Identity) -> None:
    path = encrypt_with_pyrage(VALUE, str(key.to_public()), tmp_path / "pw.age")
    settings = SecretSettings(age_key_file=tmp_path / "keys" / "age.txt")
    message = fails(SecretRef("age", str(path)), settings)
    assert "the key file" in message and "from the inventory's secrets.age_key_file" in message
    assert "not found; create it with `age-keygen -o FILE`" in message


@pytest.mark.parametrize("encrypt", ENCRYPTORS)
def test_a_file_for_another_key_names_the_public_key_in_use(
    tmp_path: Path, key: x25519.Identity, encrypt
) -> None:
    path = encrypt(VALUE, str(x25519.Identity.generate().to_public()), tmp_path / "pw.age")
    message = fails(SecretRef("age", str(path)), env={secrets.ENV_KEY: str(key)})
    assert f"{WHERE}: age file {path} is not encrypted for SPCTL_AGE_KEY" in message
    assert str(key.to_public()) in message  # public: what to encrypt for


def test_files_that_are_not_age_files(tmp_path: Path, key: x25519.Identity) -> None:
    env = {secrets.ENV_KEY: str(key)}
    plain = tmp_path / "plain.age"
    plain.write_bytes(VALUE)
    assert "is not encrypted with age (it does not begin with `age-encryption.org/v1`" in fails(
        SecretRef("age", str(plain)), env=env
    )
    passphrase = tmp_path / "pp.age"
    passphrase.write_bytes(pyrage.passphrase.encrypt(VALUE, "correct horse"))
    assert "is encrypted with a passphrase; spctl decrypts with an identity" in fails(
        SecretRef("age", str(passphrase)), env=env
    )
    whole = encrypt_with_pyrage(VALUE, str(key.to_public()), tmp_path / "whole.age").read_bytes()
    cut = tmp_path / "cut.age"
    cut.write_bytes(whole[:-5])
    assert "cannot be decrypted: it is damaged or truncated (age: " in fails(
        SecretRef("age", str(cut)), env=env
    )
    armored = encrypt_with_pyrage(VALUE, str(key.to_public()), tmp_path / "a.age", True)
    damaged = tmp_path / "damaged.age"
    damaged.write_bytes(armored.read_bytes().replace(b"\n", b"\n!", 1))
    assert "cannot be decrypted" in fails(SecretRef("age", str(damaged)), env=env)


# -- the value type ---------------------------------------------------------------------


def test_a_secret_shows_only_its_digest() -> None:
    secret = Secret(VALUE)
    digest = secret.sha256
    assert len(digest) == 64
    assert repr(secret) == str(secret) == f"<secret sha256:{digest[:12]}…>"
    assert f"{secret}" == f"{secret!r}" == f"{[secret]}"[1:-1]
    assert (
        secret == Secret(VALUE) and secret != Secret(b"other") and len({secret, Secret(VALUE)}) == 1
    )
    assert copy.deepcopy(secret) is secret
    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(secret)
    seen(repr(secret))
    seen([secret])
    seen({"value": secret})


# -- secret variables in templates ------------------------------------------------------


def inventory_with_secret(tmp_path: Path, template: str, var: str = "{env: STATS_PW}"):
    (tmp_path / "templates").mkdir(exist_ok=True)
    (tmp_path / "templates" / "web.yaml.j2").write_text(template)
    path = tmp_path / "inv.yaml"
    path.write_text(
        "defaults:\n"
        f"  vars: {{image: nginx, stats_pw: {{secret: {var}}}}}\n"
        "nodes:\n  n1: {pods: [web]}\n"
    )
    return load_inventory(path, ssh_config=tmp_path / "none").nodes["n1"]


POD = """\
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
    - {name: web, image: "{{ image }}"%s}
"""


@pytest.mark.parametrize(
    "use",
    [
        "{{ stats_pw }}",
        "{{ node.vars.stats_pw }}",
        "{{ stats_pw | upper }}",
        "{{ stats_pw | e }}",
        "{{ stats_pw ~ '' }}",
        "{{ '%s' % stats_pw }}",
        "{{ '{}'.format(stats_pw) }}",
        "{{ stats_pw | trim }}",
    ],
)
def test_a_pod_manifest_that_uses_a_secret_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, use: str
) -> None:
    monkeypatch.delenv("STATS_PW", raising=False)  # refused before the secret is read
    node = inventory_with_secret(tmp_path, POD % f', args: ["{use}"]')
    with pytest.raises(TemplateError) as caught:
        render_pod(node, node.pods[0], Fleet())
    message = seen(caught.value)
    assert message.startswith(f"node n1, pod web, template {node.pods[0].template}: ")
    assert "template uses secret variable stats_pw; secrets may go into files only" in message


def test_a_secret_the_manifest_does_not_use_needs_neither_secret_nor_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STATS_PW", raising=False)
    node = inventory_with_secret(tmp_path, POD % "", var="{age: nowhere.age}")
    pod = render_pod(node, node.pods[0], Fleet())
    assert "image: nginx" in pod.content


def test_the_refusal_is_one_of_the_nodes_problems(tmp_path: Path) -> None:
    from spctl.desired.render import render_all

    node = inventory_with_secret(tmp_path, POD % ', args: ["{{ stats_pw }}"]')
    with pytest.raises(ValidationError) as caught:
        render_all([node], Fleet())
    assert any("secret variable stats_pw" in p for p in caught.value.problems)


def render_file(node, text: str, where: str = WHERE) -> tuple[str, secrets.Collector]:
    """A pod's file as the caller renders it: the same context, secrets allowed."""
    from spctl.desired.render import context

    template = environment("/").from_string(text)
    with collecting(where) as used:
        return template.render(context(node, "web", Fleet())), used


def test_a_file_template_gets_the_value_and_the_caller_learns_it_used_a_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STATS_PW", VALUE.decode())
    node = inventory_with_secret(tmp_path, POD % "")
    text, used = render_file(node, "user admin\npassword {{ stats_pw }}\n")
    assert text == "user admin\npassword " + VALUE.decode().rstrip("\n") + "\n"  # one \n taken
    assert list(used.used) == ["stats_pw"] and used.secrets == (Secret(VALUE),)
    plain, nothing = render_file(node, "user {{ image }}\n")
    assert plain == "user nginx\n" and nothing.secrets == ()


def test_an_error_after_the_value_became_text_does_not_quote_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STATS_PW", VALUE.decode())
    node = inventory_with_secret(tmp_path, POD % "")
    for text, kind in (
        ("{{ {}[stats_pw | string] }}", jinja2.UndefinedError),
        ("{{ (stats_pw | string) | int + missing }}", jinja2.UndefinedError),
        ("{{ '%d' % (stats_pw | string) }}", TypeError),
    ):
        with pytest.raises(kind) as caught:  # the type the caller's handling expects
            render_file(node, text)
        seen(caught.value)
    assert repr(Secret(VALUE)) in SEEN[0]  # masked, not left out


def test_a_non_utf8_environment_value_is_the_bytes_as_set() -> None:
    value = os.fsdecode(b"\xffpw")
    assert resolve(SecretRef("env", "X"), WHERE, environ={"X": value}).reveal() == b"\xffpw"


def test_a_secret_variable_has_no_other_way_to_its_value(tmp_path: Path) -> None:
    node = inventory_with_secret(tmp_path, POD % "")
    for text in (
        "{{ stats_pw._ref }}",
        "{{ stats_pw.__str__() }}",
        "{{ stats_pw | attr('_ref') }}",
    ):
        with pytest.raises(jinja2.exceptions.SecurityError):
            render_file(node, text)
    for text in ("{{ stats_pw[0] }}", "{{ stats_pw | length }}", "{{ stats_pw | list }}"):
        with pytest.raises((TypeError, jinja2.UndefinedError)):
            render_file(node, text)
    shown, used = render_file(node, "{{ stats_pw | pprint }} {{ node.vars }}")
    assert "<secret variable stats_pw>" in seen(shown) and used.secrets == ()


def test_a_use_outside_any_collector_is_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("STATS_PW", VALUE.decode())
    from spctl.desired.render import context

    variable = context(inventory_with_secret(tmp_path, POD % ""), "web", Fleet())["stats_pw"]
    with pytest.raises(SecretError, match="a template: template uses secret variable stats_pw"):
        str(variable)


def test_a_secret_variable_error_names_the_pod_file_and_variable(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("STATS_PW", raising=False)
    node = inventory_with_secret(tmp_path, POD % "")
    with pytest.raises(SecretError) as caught:
        render_file(node, "{{ stats_pw }}")
    assert seen(caught.value) == (
        f"{WHERE}: variable stats_pw: environment variable STATS_PW is not set; export it on "
        "the control host with the secret as its value"
    )
    binary = tmp_path.parent / f"{tmp_path.name}-binary"
    binary.write_bytes(b"\xff\x00" + VALUE)
    try:
        node = inventory_with_secret(tmp_path, POD % "", var=f"{{file: {binary}}}")
        with pytest.raises(SecretError, match="is not UTF-8 text; a binary secret can only be"):
            render_file(node, "{{ stats_pw }}")
    finally:
        binary.unlink()


# -- masking ----------------------------------------------------------------------------


def test_redact_masks_the_value_and_its_encodings() -> None:
    secret = Secret(VALUE)
    mask = repr(secret)
    text_value = VALUE.decode()
    for spelling in (
        text_value,
        text_value.rstrip("\n"),
        base64.b64encode(VALUE).decode(),
        base64.b64encode(VALUE.rstrip(b"\n")).decode(),
        base64.urlsafe_b64encode(VALUE).decode().rstrip("="),
        json.dumps(text_value),
        json.dumps(text_value, ensure_ascii=False),
    ):
        masked = redact(f"before {spelling} after", [secret])
        assert spelling.strip('"') not in masked
        assert masked.startswith("before ") and masked.endswith(" after") and mask in masked
    assert redact("nothing here", [secret]) == "nothing here"
    assert redact("s3cr3t-hunter2-été", []) == "s3cr3t-hunter2-été"


def test_redact_masks_each_long_line_of_a_multi_line_secret_as_a_diff_shows_it() -> None:
    pem = b"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n}\n-----END PRIVATE KEY-----\n"
    secret = Secret(pem)
    diff = "--- a\n+++ b\n+MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n {\n }\n"
    masked = redact(diff, [secret])
    assert "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" not in masked and repr(secret) in masked
    assert " {\n }\n" in masked  # a short line is not masked wherever it appears


def test_redact_prefers_the_longest_match_and_never_rewrites_a_mask() -> None:
    short, long = Secret(b"abcdefgh"), Secret(b"abcdefgh-and-more")
    masked = redact("x abcdefgh-and-more y abcdefgh z", [short, long])
    assert masked == f"x {long!r} y {short!r} z"
    assert redact(masked, [short, long]) == masked  # masking again changes nothing


def test_the_age_key_is_no_secret_to_deliver():
    """The variable that holds the age key decrypts every secret of the inventory: a
    reference to it is refused when the inventory loads, never resolved."""
    for name in ("SPCTL_AGE_KEY", "SPCTL_AGE_KEY_FILE"):
        with pytest.raises(InventoryError, match="holds spctl's age key"):
            secrets.parse_ref({"env": name}, "pod web, files[0]")


def test_the_fleet_view_shows_no_secret_variable():
    """Another node's (or this node's) secret variable read through ``nodes`` is no text:
    secrets are used as a node's own variables, in its files."""
    from spctl.desired.fleet import Fleet, HiddenSecret

    class N:
        name, address, labels, groups = "n1", "10.0.0.1", {}, ()
        vars = {"pw": {"secret": {"env": "PW"}}, "port": 80}

    fleet = Fleet.of([N()], {})
    hidden = fleet.nodes["n1"]["vars"]["pw"]
    assert isinstance(hidden, HiddenSecret) and repr(hidden) == "<secret>"
    with pytest.raises(secrets.SecretError, match=r"nodes\['n1'\].vars.pw is a secret variable"):
        str(hidden)
    assert fleet.nodes["n1"]["vars"]["port"] == 80
