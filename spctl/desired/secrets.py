"""Secrets: values kept out of the inventory, and out of everything spctl prints.

A secret reference, written where a value would be, is one of::

    {env: NAME}    an environment variable of the control host
    {file: PATH}   a file outside the inventory's directory (never one the repository keeps)
    {age: PATH}    a file in the repository, encrypted with age (relative to the inventory)

A variable whose value is ``{secret: REFERENCE}`` is a secret variable. The inventory keeps
only the reference (``normalise_vars`` checks it and makes its path absolute); the value is
read when a template uses the variable, so a template that does not use it needs neither
the secret nor the key. A template sees a :class:`SecretVariable`: turning it into text
records the use on the render's :class:`Collector` (``collecting``), which either allows it
(a pod's file: the caller then writes that file as a secret) or refuses it (a pod's
manifest: every user on the node may read it, and the kubelet logs it).

The age identity comes from, first to last: ``SPCTL_AGE_KEY`` (the identity text itself),
``SPCTL_AGE_KEY_FILE``, the inventory's ``secrets: {age_key_file: PATH}`` (``age_identities``).
Decryption is pyrage's (Rust's rage, the age format); spctl only reads the files.

A value is held by :class:`Secret`, whose repr and str show its digest only
(``<secret sha256:0123456789ab…>``); ``redact`` masks values in text that might carry
them. No error of this module contains a secret's bytes or an identity.
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import hashlib
import hmac
import json
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pyrage
from pyrage import x25519

from spctl.errors import InventoryError, TemplateError

KINDS = ("env", "file", "age")
ENV_KEY = "SPCTL_AGE_KEY"
ENV_KEY_FILE = "SPCTL_AGE_KEY_FILE"
SETTINGS_KEYS = {"age_key_file"}
#: The largest secret (or key file) spctl reads: a certificate bundle is a few KiB.
MAX_SECRET_BYTES = 1 << 20
#: Lines of a multi-line secret shorter than this are not masked one by one (a `}` of a
#: JSON secret would mask every `}` of the output); the whole value always is.
MIN_MASKED_LINE = 8
_AGE_MAGIC = b"age-encryption.org/"
_ARMOR_BEGIN = b"-----BEGIN AGE ENCRYPTED FILE-----"
_ARMOR_END = b"-----END AGE ENCRYPTED FILE-----"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class SecretError(TemplateError):
    """A secret or its key is missing, unreadable or wrong: bad input (exit 2), raised
    before any node is touched. The message names where (node, pod, file or variable), the
    secret's source and what to do; never the secret's bytes."""


class Secret:
    """A secret value: its bytes, and a repr that shows only their digest."""

    __slots__ = ("_sha256", "_value")

    def __init__(self, value: bytes) -> None:
        self._value = bytes(value)
        self._sha256 = hashlib.sha256(self._value).hexdigest()

    @property
    def sha256(self) -> str:
        return self._sha256

    def reveal(self) -> bytes:
        """The bytes, for the one place that writes them (a file on a node)."""
        return self._value

    def __repr__(self) -> str:
        return f"<secret sha256:{self._sha256[:12]}…>"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._sha256, other._sha256)

    def __hash__(self) -> int:
        return hash(self._sha256)

    def __copy__(self) -> Secret:
        return self  # immutable

    def __deepcopy__(self, memo: Any) -> Secret:
        return self

    def __reduce__(self) -> Any:
        raise TypeError("a secret is not pickled: it would leave spctl's process in the clear")


@dataclass(frozen=True)
class SecretRef:
    """Where a secret comes from: an environment variable's name, or a file's path."""

    kind: str
    name: str

    def describe(self) -> str:
        return {
            "env": f"environment variable {self.name}",
            "file": f"secret file {self.name}",
            "age": f"age file {self.name}",
        }[self.kind]

    def as_dict(self) -> dict[str, str]:
        return {self.kind: self.name}


@dataclass(frozen=True)
class SecretSettings:
    """The inventory's ``secrets:`` block."""

    age_key_file: Optional[Path] = None


def parse_settings(raw: Any, where: str, base: Path) -> SecretSettings:
    """``secrets: {age_key_file: PATH}``, the path relative to the inventory's directory."""
    if raw is None:
        return SecretSettings()
    if not isinstance(raw, dict):
        raise InventoryError(f"{where}: expected a mapping with `age_key_file:`")
    unknown = sorted(set(raw) - SETTINGS_KEYS)
    if unknown:
        raise InventoryError(
            f"{where}: unknown key {unknown[0]!r}; expected one of {', '.join(sorted(SETTINGS_KEYS))}"
        )
    key_file = raw.get("age_key_file")
    if key_file is None:
        return SecretSettings()
    if not isinstance(key_file, str) or not key_file.strip():
        raise InventoryError(f"{where}.age_key_file: expected a file path")
    return SecretSettings(age_key_file=_absolute(key_file, base))


def _absolute(text: str, base: Optional[Path]) -> Path:
    path = Path(text).expanduser()
    if not path.is_absolute():
        if base is None:
            raise ValueError(f"{text!r} is relative and there is no directory to read it from")
        path = base / path
    return Path(os.path.abspath(path))


#: The variables that hold the age key (``age_identities``): never a secret to deliver.
_KEY_VARIABLES = (ENV_KEY, ENV_KEY_FILE)


def is_reference(value: Any) -> bool:
    """A secret variable's value: a mapping whose only key is ``secret``."""
    return isinstance(value, dict) and len(value) == 1 and "secret" in value


def parse_ref(raw: Any, where: str, base: Optional[Path] = None) -> SecretRef:
    """A reference as written (``{env: NAME}``, ``{file: PATH}``, ``{age: PATH}``), its path
    made absolute against ``base`` (the inventory's directory). A ``file:`` inside ``base``
    is refused: a secret the repository keeps must be encrypted (``age:``)."""
    shape = "`{env: NAME}`, `{file: PATH}` or `{age: PATH}`"
    if not isinstance(raw, dict) or len(raw) != 1:
        raise InventoryError(f"{where}: a secret reference is one of {shape}")
    ((kind, value),) = raw.items()
    if kind not in KINDS:
        raise InventoryError(f"{where}: unknown secret kind {kind!r}; expected {shape}")
    if not isinstance(value, str) or not value.strip():
        raise InventoryError(f"{where}.{kind}: expected a name or path, got {type(value).__name__}")
    if kind == "env":
        if value in _KEY_VARIABLES:
            raise InventoryError(
                f"{where}.env: {value} holds spctl's age key, which decrypts every secret of "
                "the inventory; it is never delivered to a node. Name the variable of the "
                "secret itself"
            )
        if not _ENV_NAME.match(value):
            raise InventoryError(
                f"{where}.env: {value!r} is not an environment variable name (letters, digits, _)"
            )
        return SecretRef("env", value)
    try:
        path = _absolute(value, base)
    except ValueError as exc:
        raise InventoryError(f"{where}.{kind}: {exc}") from None
    if kind == "file" and base is not None and _inside(path, base):
        raise InventoryError(
            f"{where}.file: {path} is inside the inventory's directory {base}: a secret kept "
            "with the inventory must be encrypted. Encrypt it (`age -r RECIPIENT -o "
            f"{path.name}.age {path.name}`), delete the plain file, and write "
            f"`{{age: {os.path.relpath(path, base)}.age}}`; or keep the file outside {base}"
        )
    return SecretRef(kind, str(path))


def _inside(path: Path, base: Path) -> bool:
    """Whether ``path`` is ``base`` or under it, symbolic links followed (a link in the
    repository to a file elsewhere is elsewhere)."""
    real, real_base = Path(os.path.realpath(path)), Path(os.path.realpath(base))
    return real == real_base or real_base in real.parents


def normalise_vars(variables: Mapping[str, Any], where: str, base: Path) -> dict[str, Any]:
    """``vars`` with every secret reference in it checked and its path made absolute (so a
    node's vars stay plain data, printable by ``spctl inventory``). References may be
    nested in mappings and lists."""

    def walk(value: Any, here: str) -> Any:
        if is_reference(value):
            return {"secret": parse_ref(value["secret"], f"{here}.secret", base).as_dict()}
        if isinstance(value, dict):
            return {k: walk(v, f"{here}.{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, f"{here}[{i}]") for i, v in enumerate(value)]
        return value

    return {k: walk(v, f"{where}.{k}") for k, v in variables.items()}


# -- reading a secret ------------------------------------------------------------------


def resolve(
    ref: SecretRef,
    where: str,
    settings: SecretSettings = SecretSettings(),  # noqa: B008 - frozen, never changed
    environ: Optional[Mapping[str, str]] = None,
) -> Secret:
    """The secret ``ref`` names. ``where`` (node, pod, file or variable) begins every error."""
    env = os.environ if environ is None else environ
    if ref.kind == "env":
        value = env.get(ref.name)
        if value is None:
            raise SecretError(
                f"{where}: environment variable {ref.name} is not set; export it on the "
                "control host with the secret as its value"
            )
        return Secret(value.encode("utf-8", "surrogateescape"))  # the bytes as set
    path = Path(ref.name)
    data = _read_bounded(path, ref.describe(), where, ref.kind)
    if ref.kind == "file":
        return Secret(data)
    identities, source = age_identities(where, settings, env)
    return Secret(_decrypt(data, path, identities, source, where))


def _read_bounded(path: Path, what: str, where: str, kind: str) -> bytes:
    hint = {
        "file": "create it (outside the repository) or fix the reference",
        "age": "encrypt the secret into it (`age -r RECIPIENT -o FILE`) or fix the reference",
        "key": "create it with `age-keygen -o FILE` or point to the right file",
    }[kind]
    try:
        st = path.stat()
    except FileNotFoundError:
        raise SecretError(f"{where}: {what} not found; {hint}") from None
    except OSError as exc:
        raise SecretError(f"{where}: cannot read {what}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise SecretError(f"{where}: {what} is not a regular file; {hint}")
    if st.st_size > MAX_SECRET_BYTES:
        raise SecretError(
            f"{where}: {what} has {st.st_size} bytes; spctl reads at most {MAX_SECRET_BYTES}"
        )
    try:
        with path.open("rb") as f:
            data = f.read(MAX_SECRET_BYTES + 1)
    except OSError as exc:
        raise SecretError(f"{where}: cannot read {what}: {exc.strerror or exc}") from None
    if len(data) > MAX_SECRET_BYTES:
        raise SecretError(f"{where}: {what} grew past {MAX_SECRET_BYTES} bytes while read")
    return data


def age_identities(
    where: str, settings: SecretSettings, environ: Mapping[str, str]
) -> tuple[list[x25519.Identity], str]:
    """The age identities to decrypt with, and a phrase naming where they came from.

    Precedence, first wins: ``SPCTL_AGE_KEY`` (the identity text), ``SPCTL_AGE_KEY_FILE``,
    the inventory's ``secrets.age_key_file``.
    """
    text = environ.get(ENV_KEY)
    if text:
        return _parse_identities(text.encode(), ENV_KEY, where), ENV_KEY
    key_file = environ.get(ENV_KEY_FILE)
    if key_file:
        path = Path(key_file).expanduser()
        source = f"the key file {path} (from {ENV_KEY_FILE})"
    elif settings.age_key_file is not None:
        path = settings.age_key_file
        source = f"the key file {path} (from the inventory's secrets.age_key_file)"
    else:
        raise SecretError(
            f"{where}: no age key to decrypt with; set {ENV_KEY} to the identity "
            f"(AGE-SECRET-KEY-1...), {ENV_KEY_FILE} to a key file, or `secrets: "
            "{age_key_file: PATH}` in the inventory"
        )
    data = _read_bounded(path, source, where, "key")
    return _parse_identities(data, source, where), source


def _parse_identities(data: bytes, source: str, where: str) -> list[x25519.Identity]:
    """An age identity file: one identity a line, empty lines and lines beginning with ``#``
    skipped (str4d/rage, ``age/src/identity.rs``, ``IdentityFile::parse_identities``). A bad
    line is named by its number only, as rage does: it may hold a key."""
    stripped = data.lstrip()
    if stripped.startswith((_AGE_MAGIC, _ARMOR_BEGIN)):
        raise SecretError(
            f"{where}: {source} is itself encrypted with age; spctl needs the identity in "
            f"clear: decrypt it to a file only you can read, or set {ENV_KEY}"
        )
    if stripped.startswith(b"-----BEGIN"):
        raise SecretError(
            f"{where}: {source} is not an age identity file (an SSH or PEM key?); spctl "
            "reads age identities (AGE-SECRET-KEY-1..., made by `age-keygen`)"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretError(
            f"{where}: {source} is not UTF-8 text; expected an age identity"
        ) from None
    identities = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("AGE-PLUGIN-"):
            raise SecretError(
                f"{where}: {source}, line {number}: an age plugin identity; spctl reads only "
                "native identities (AGE-SECRET-KEY-1...) and runs no plugins"
            )
        try:
            identities.append(x25519.Identity.from_str(line))
        except pyrage.IdentityError:
            raise SecretError(
                f"{where}: {source}, line {number}: not an age identity (expected "
                "AGE-SECRET-KEY-1...; comments begin with #)"
            ) from None
    if not identities:
        raise SecretError(f"{where}: {source} holds no age identity (AGE-SECRET-KEY-1...)")
    return identities


def _decrypt(
    data: bytes, path: Path, identities: list[x25519.Identity], source: str, where: str
) -> bytes:
    stanzas = _header_stanzas(data)
    if stanzas is None:
        raise SecretError(
            f"{where}: age file {path} is not encrypted with age (it does not begin with "
            f"`age-encryption.org/v1` nor is it ASCII-armored); encrypt it with "
            f"`age -r RECIPIENT -o {path.name} PLAINFILE`"
        )
    if "scrypt" in stanzas:
        raise SecretError(
            f"{where}: age file {path} is encrypted with a passphrase; spctl decrypts with "
            "an identity: encrypt it for a recipient (`age -r RECIPIENT`) instead of `age -p`"
        )
    try:
        return bytes(pyrage.decrypt(data, identities))
    except pyrage.DecryptError as exc:
        if "no matching keys" in str(exc).lower():
            public = ", ".join(str(i.to_public()) for i in identities)
            raise SecretError(
                f"{where}: age file {path} is not encrypted for {source} (its public key: "
                f"{public}); encrypt it again with `-r` for that key among the recipients, or "
                "use the key it was encrypted for"
            ) from None
        # rage's decryption errors name the format's failure, never plaintext.
        raise SecretError(
            f"{where}: age file {path} cannot be decrypted: it is damaged or truncated "
            f"(age: {exc}); encrypt it again"
        ) from None


def _header_stanzas(data: bytes) -> Optional[list[str]]:
    """The stanza types of an age file's header (``X25519``, ``scrypt``, ...), or None when
    the data is not in the age format, binary or armored (age-encryption.org/v1: a header
    of ``-> TYPE args`` lines after the version line)."""
    body = data
    if data.lstrip().startswith(_ARMOR_BEGIN):
        inner = data.lstrip()[len(_ARMOR_BEGIN) :].split(_ARMOR_END, 1)[0]
        try:
            body = base64.b64decode(b"".join(inner.split()), validate=True)
        except (binascii.Error, ValueError):
            return []  # damaged armor: left to rage, which names it
    if not body.startswith(_AGE_MAGIC):
        return None
    header = body.split(b"\n---", 1)[0]
    return [
        line[3:].split(b" ", 1)[0].decode("ascii", "replace")
        for line in header.split(b"\n")
        if line.startswith(b"-> ")
    ]


# -- secrets in templates -------------------------------------------------------------


@dataclass
class Collector:
    """The secrets one render used: ``used`` maps each variable's name to its value.

    ``allow`` False refuses any use (a pod's manifest). ``where`` begins every error.
    """

    where: str
    allow: bool = True
    used: dict[str, Secret] = field(default_factory=dict)

    @property
    def secrets(self) -> tuple[Secret, ...]:
        return tuple(self.used.values())


_collector: contextvars.ContextVar[Optional[Collector]] = contextvars.ContextVar(
    "spctl_secret_collector", default=None
)


@contextmanager
def collecting(where: str, allow: bool = True) -> Iterator[Collector]:
    """Record (or, with ``allow`` False, refuse) every secret variable a render in this
    block turns into text. A use outside any such block is refused.

    An exception leaving the block has the values of the secrets used masked in its
    message: once a secret is text, Jinja may quote it (``{{ ports[password] }}`` says
    ``'dict object' has no attribute '<the value>'``). Its type is kept, so the caller's
    handling of Jinja's errors stays as it is."""
    collector = Collector(where, allow)
    token = _collector.set(collector)
    try:
        yield collector
    except Exception as exc:
        if collector.used:
            used = collector.secrets
            exc.args = tuple(redact(a, used) if isinstance(a, str) else a for a in exc.args)
        raise
    finally:
        _collector.reset(token)


def refusal(where: str, name: str) -> str:
    return (
        f"{where}: template uses secret variable {name}; secrets may go into files only "
        "(a pod's manifest is readable by every user of the node and the kubelet logs it): "
        "write the secret into one of the pod's files and mount it"
    )


class SecretVariable:
    """A secret variable as a template sees it: text when rendered (``{{ password }}``, a
    filter, ``~``, ``%``, ``format``), each use recorded on the render's collector or
    refused. It has no public attribute (the sandbox hides the rest), no length and no
    items, so a template cannot reach the value another way."""

    __slots__ = ("_name", "_ref", "_settings")

    def __init__(self, name: str, ref: SecretRef, settings: SecretSettings) -> None:
        self._name = name
        self._ref = ref
        self._settings = settings

    def __str__(self) -> str:
        collector = _collector.get()
        if collector is None or not collector.allow:
            raise SecretError(refusal(collector.where if collector else "a template", self._name))
        secret = collector.used.get(self._name)
        where = f"{collector.where}: variable {self._name}"
        if secret is None:
            secret = resolve(self._ref, where, self._settings)
        try:
            text = secret.reveal().decode("utf-8")
        except UnicodeDecodeError:
            raise SecretError(
                f"{where}: {self._ref.describe()} ({secret}) is not UTF-8 text; a binary "
                "secret can only be a whole file's content"
            ) from None
        collector.used[self._name] = secret
        # `echo pw > file` ends the file with a newline nobody means to put into a template.
        return text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text

    __html__ = __str__  # markupsafe's escape() and |e ask for this

    def __repr__(self) -> str:
        return f"<secret variable {self._name}>"


def template_vars(variables: Mapping[str, Any], settings: SecretSettings) -> dict[str, Any]:
    """``vars`` for a template's context: every secret reference (normalised by
    ``normalise_vars``, nested ones too) a :class:`SecretVariable` named by its path."""

    def walk(value: Any, name: str) -> Any:
        if is_reference(value):
            return SecretVariable(name, parse_ref(value["secret"], name), settings)
        if isinstance(value, dict):
            return {k: walk(v, f"{name}.{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, f"{name}[{i}]") for i, v in enumerate(value)]
        return value

    return {k: walk(v, str(k)) for k, v in variables.items()}


# -- masking ----------------------------------------------------------------------------


def _spellings(secret: Secret) -> set[str]:
    """The ways a secret's value may appear in text: itself (without its final newline
    too), base64 (standard and URL-safe, padded or not), JSON-escaped, decoded with
    replacement characters, and each long enough line of a multi-line value."""
    raw = secret.reveal()
    values = {raw, raw.rstrip(b"\r\n"), raw.strip()}
    found: set[str] = set()
    for value in values:
        if not value:
            continue
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(value).decode("ascii")
            found |= {encoded, encoded.rstrip("=")}
        text = value.decode("utf-8", "replace")
        found |= {text, json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]}
        for line in text.splitlines():
            if len(line.strip()) >= MIN_MASKED_LINE:
                found |= {line.strip(), json.dumps(line.strip())[1:-1]}
    return {s for s in found if s}


def redact(text: str, secrets: Iterable[Secret]) -> str:
    """``text`` with every appearance of a secret's value (``_spellings``) replaced by
    ``<secret sha256:…>``; the longest spellings first, in one pass, so a placeholder is
    never rewritten."""
    owner: dict[str, Secret] = {}
    for secret in secrets:
        for spelling in _spellings(secret):
            owner.setdefault(spelling, secret)
    if not owner:
        return text
    pattern = re.compile("|".join(re.escape(s) for s in sorted(owner, key=len, reverse=True)))
    return pattern.sub(lambda m: repr(owner[m.group(0)]), text)
