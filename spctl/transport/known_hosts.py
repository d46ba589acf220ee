"""known_hosts as OpenSSH reads it: plain and hashed host patterns, ``@cert-authority``
and ``@revoked`` lines, and the check of an OpenSSH host certificate.

The rules follow OpenSSH's sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT", ``hostfile.c`` and
``match.c`` (patterns: comma-separated, ``*`` and ``?`` wildcards, ``!`` negation; a
hashed name is ``|1|base64(salt)|base64(HMAC-SHA1(salt, name))``), and for certificates
``PROTOCOL.certkeys`` and ``sshkey.c`` (``sshkey_cert_check_authority``). Where spctl is
stricter than OpenSSH it says so: a host certificate must name the host among its
principals (OpenSSH accepts a certificate without principals for any host).

:func:`verify` decides on the key a node offered and returns nothing, or raises
:class:`HostKeyError` with a message naming the file and line concerned.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
import hmac
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import paramiko

from spctl.errors import NodeError

CERT_SUFFIX = "-cert-v01@openssh.com"
SSH_CERT_TYPE_HOST = 2
MARKERS = ("@cert-authority", "@revoked")
# Key types of known_hosts lines, and the host key algorithms that offer such a key.
ALGORITHMS = {
    "ssh-ed25519": ("ssh-ed25519",),
    "ecdsa-sha2-nistp256": ("ecdsa-sha2-nistp256",),
    "ecdsa-sha2-nistp384": ("ecdsa-sha2-nistp384",),
    "ecdsa-sha2-nistp521": ("ecdsa-sha2-nistp521",),
    "ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256"),
}


class HostKeyError(NodeError):
    """The node's host key is unknown, changed, revoked, or its certificate is not valid."""


class KnownHostsError(NodeError):
    """A known_hosts line spctl does not understand."""


@dataclass(frozen=True)
class Entry:
    """One line of a known_hosts file."""

    marker: Optional[str]  # None, "@cert-authority" or "@revoked"
    hosts: str
    key_type: str
    blob: bytes
    path: Path
    line: int

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    def matches(self, name: str) -> bool:
        """OpenSSH's match_hostname: a negated pattern that matches wins over everything."""
        if self.hosts.startswith("|1|"):
            return _hashed_match(self.hosts, name)
        matched = False
        for pattern in self.hosts.split(","):
            negated = pattern.startswith("!")
            pattern = pattern[1:] if negated else pattern
            if _pattern_match(name.lower(), pattern.lower()):
                if negated:
                    return False
                matched = True
        return matched


def _pattern_match(name: str, pattern: str) -> bool:
    # fnmatch's [...] classes are not part of OpenSSH's patterns: escape them.
    escaped = pattern.replace("[", "[[]")
    return fnmatch.fnmatchcase(name, escaped)


def _hashed_match(field: str, name: str) -> bool:
    parts = field.split("|")
    if len(parts) != 4:
        return False
    try:
        salt = base64.b64decode(parts[2], validate=True)
        digest = base64.b64decode(parts[3], validate=True)
    except (binascii.Error, ValueError):
        return False
    mine = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return hmac.compare_digest(mine, digest)


def load(paths: Sequence[Path]) -> list[Entry]:
    """Every entry of the files that exist; a line spctl cannot read is an error."""
    entries: list[Entry] = []
    for path in paths:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise KnownHostsError(f"cannot read {path}: {exc.strerror}") from None
        for number, raw in enumerate(data.splitlines(), 1):
            entry = _parse_line(raw, path, number)
            if entry is not None:
                entries.append(entry)
    return entries


_cache_lock = threading.Lock()
_cache: dict[
    tuple[Path, ...], tuple[tuple[Any, ...], dict[str, list[int]], list[int], list[Entry]]
] = {}


def _stamp(paths: Sequence[Path]) -> tuple[Any, ...]:
    stamps: list[Any] = []
    for path in paths:
        try:
            st = path.stat()
        except OSError:
            stamps.append(None)
        else:
            stamps.append((st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(stamps)


def _is_literal(entry: Entry) -> bool:
    """A line whose host patterns are plain names (no wildcard, negation or hash): it
    matches a name exactly when one of them equals it, ignoring case."""
    return not entry.hosts.startswith("|") and not any(c in entry.hosts for c in "*?!")


def for_host(paths: Sequence[Path], name: str) -> list[Entry]:
    """The entries of ``paths`` that match ``name``, in file order: what ``verify`` and
    ``host_key_order`` would pick from ``load(paths)``. The files are parsed once per
    process (again when one changes), and plain names are looked up in an index, so
    connecting to N nodes costs O(N), not O(N) per node; hashed and wildcard lines are
    still tried one by one."""
    key = tuple(paths)
    stamp = _stamp(paths)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is None or cached[0] != stamp:
            entries = load(paths)
            literal: dict[str, list[int]] = {}
            general: list[int] = []
            for i, entry in enumerate(entries):
                if _is_literal(entry):
                    for host in dict.fromkeys(h.lower() for h in entry.hosts.split(",")):
                        literal.setdefault(host, []).append(i)
                else:
                    general.append(i)
            cached = _cache[key] = (stamp, literal, general, entries)
    _, literal, general, entries = cached
    found = literal.get(name.lower(), []) + [i for i in general if entries[i].matches(name)]
    return [entries[i] for i in sorted(found)]


def _parse_line(raw: bytes, path: Path, number: int) -> Optional[Entry]:
    where = f"{path}:{number}"
    try:
        line = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise KnownHostsError(f"{where}: not UTF-8 text") from None
    if not line or line.startswith("#"):
        return None
    fields = line.split()
    marker = None
    if fields[0].startswith("@"):
        if fields[0] not in MARKERS:
            raise KnownHostsError(
                f"{where}: unknown marker {fields[0]!r}; spctl knows {' and '.join(MARKERS)}"
            )
        marker = fields.pop(0)
    if len(fields) < 3:
        raise KnownHostsError(
            f"{where}: expected `[marker] hosts key-type base64-key [comment]`, got {line[:80]!r}"
        )
    hosts, key_type, text = fields[0], fields[1], fields[2]
    try:
        blob = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise KnownHostsError(f"{where}: the key is not valid base64") from None
    try:
        inner = paramiko.Message(blob).get_text()
    except Exception:  # a truncated blob: paramiko raises several kinds
        inner = ""
    if inner != key_type:
        raise KnownHostsError(
            f"{where}: the key says it is {inner or 'nothing readable'}, the line says {key_type}"
        )
    return Entry(marker, hosts, key_type, blob, path, number)


def host_key_order(entries: Sequence[Entry], name: str) -> list[str]:
    """Host key algorithms to ask for, best first: certificates when a CA is listed for the
    host, then the types known_hosts already has for it (so that a known key is what the
    node offers, as OpenSSH does), then the rest."""
    # paramiko's HostKeyAlgorithms, without the certificate kinds it appends
    default = list(paramiko.Transport._preferred_keys)  # type: ignore[attr-defined]
    certs = [a + CERT_SUFFIX for a in default]
    order: list[str] = []
    if any(e.marker == "@cert-authority" and e.matches(name) for e in entries):
        order += certs
    for e in entries:
        if e.marker is None and e.matches(name):
            order += [a for a in ALGORITHMS.get(e.key_type, ()) if a in default]
    order += default + certs
    return list(dict.fromkeys(order))


@dataclass(frozen=True)
class Certificate:
    """The fields of an OpenSSH certificate that a host check needs."""

    key_type: str
    cert_type: int
    key_id: str
    principals: tuple[str, ...]
    valid_after: int
    valid_before: int
    ca_blob: bytes
    signed: bytes
    signature: bytes

    @classmethod
    def parse(cls, blob: bytes) -> Certificate:
        msg = paramiko.Message(blob)
        key_type = msg.get_text()
        msg.get_string()  # nonce
        base = key_type[: -len(CERT_SUFFIX)]
        if base == "ssh-ed25519":
            msg.get_string()
        elif base.startswith("ecdsa-sha2-"):
            msg.get_string()
            msg.get_string()
        elif base == "ssh-rsa":
            msg.get_mpint()
            msg.get_mpint()
        else:
            raise ValueError(f"unsupported certificate type {key_type}")
        msg.get_int64()  # serial
        cert_type = msg.get_int()
        key_id = msg.get_text()
        principals_msg = paramiko.Message(msg.get_string())
        principals = []
        while principals_msg.get_remainder():
            principals.append(principals_msg.get_text())
        valid_after = msg.get_int64()
        valid_before = msg.get_int64()
        msg.get_string()  # critical options
        msg.get_string()  # extensions
        msg.get_string()  # reserved
        ca_blob = msg.get_string()
        signed = blob[: msg.packet.tell()]
        signature = msg.get_string()
        return cls(
            key_type,
            cert_type,
            key_id,
            tuple(principals),
            valid_after,
            valid_before,
            ca_blob,
            signed,
            signature,
        )

    def signature_valid(self) -> bool:
        try:
            ca_type = paramiko.Message(self.ca_blob).get_text()
            ca = paramiko.PKey.from_type_string(ca_type, self.ca_blob)
            return bool(ca.verify_ssh_sig(self.signed, paramiko.Message(self.signature)))
        except Exception:  # an unknown CA key type, a malformed signature
            return False


def _fingerprint(blob: bytes) -> str:
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _cert_blob(key: paramiko.PKey) -> Optional[bytes]:
    blob = getattr(key, "public_blob", None)
    if blob is not None and str(blob.key_type).endswith(CERT_SUFFIX):
        return bytes(blob.key_blob)
    return None


class Unknown(Exception):
    """No line of known_hosts vouches for the key (the caller refuses or records it)."""

    def __init__(self, hint: str = "") -> None:
        self.hint = hint
        super().__init__(hint)


def verify(
    entries: Sequence[Entry],
    name: str,
    host: str,
    key: paramiko.PKey,
    *,
    now: Optional[float] = None,
) -> str:
    """Check the key ``key`` that the node ``name`` (``host`` or ``[host]:port``) offered.

    Returns how it was trusted ("known key" or "certificate signed by ..."); raises
    HostKeyError for a revoked, changed or badly certified key, and :class:`Unknown` when
    no line vouches for it.
    """
    plain = key.asbytes()
    cert_blob = _cert_blob(key)
    matching = [e for e in entries if e.matches(name)]
    for e in matching:
        if e.marker == "@revoked" and e.blob == plain:
            raise HostKeyError(
                f"{name}: the node's host key {_fingerprint(plain)} is marked @revoked in "
                f"{e.where}; nothing was sent"
            )
    hint = ""
    if cert_blob is not None:
        trusted, hint = _check_certificate(matching, name, host, cert_blob, now)
        if trusted:
            return trusted
    known = [e for e in matching if e.marker is None]
    if any(e.blob == plain for e in known):
        return "known key"
    same_type = [e for e in known if e.key_type == key.get_name()]
    if same_type:
        e = same_type[0]
        raise HostKeyError(
            f"{name}: HOST KEY CHANGED: {e.where} has {_fingerprint(e.blob)}, the node "
            f"offered {_fingerprint(plain)}; nothing was sent. If the node was reinstalled, "
            f"remove its old line (ssh-keygen -R '{name}' -f {e.path}) and verify the new key"
        )
    raise Unknown(hint)


def _check_certificate(
    matching: Sequence[Entry], name: str, host: str, blob: bytes, now: Optional[float]
) -> tuple[str, str]:
    """(how it was trusted, "") or ("", why the certificate did not help)."""
    try:
        cert = Certificate.parse(blob)
    except Exception as exc:
        raise HostKeyError(f"{name}: the node's host certificate is malformed: {exc}") from None
    for e in matching:
        if e.marker == "@revoked" and e.blob == cert.ca_blob:
            raise HostKeyError(
                f"{name}: the CA {_fingerprint(cert.ca_blob)} that signed the node's host "
                f"certificate is marked @revoked in {e.where}; nothing was sent"
            )
    cas = [e for e in matching if e.marker == "@cert-authority" and e.blob == cert.ca_blob]
    if not cas:
        return "", (
            f"the node's host certificate ({cert.key_id!r}) is signed by "
            f"{_fingerprint(cert.ca_blob)}, which no @cert-authority line lists for {name}"
        )
    ca = cas[0]
    where = f"{name}: host certificate {cert.key_id!r} (CA in {ca.where})"
    if cert.cert_type != SSH_CERT_TYPE_HOST:
        raise HostKeyError(
            f"{where}: is a user certificate, not a host certificate (ssh-keygen -h)"
        )
    if not cert.signature_valid():
        raise HostKeyError(f"{where}: the CA's signature does not verify")
    if host not in cert.principals:
        listed = ", ".join(cert.principals) or "none"
        raise HostKeyError(
            f"{where}: is for {listed}, not {host}; spctl requires the host name among the "
            "certificate's principals (ssh-keygen -n)"
        )
    moment = int(time.time() if now is None else now)
    if not cert.valid_after <= moment < cert.valid_before:
        raise HostKeyError(
            f"{where}: not valid now (valid from {_when(cert.valid_after)} to "
            f"{_when(cert.valid_before)})"
        )
    return f"certificate signed by the CA in {ca.where}", ""


def _when(seconds: int) -> str:
    if seconds >= 2**63:
        return "forever"
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))
    except (OverflowError, OSError, ValueError):
        return str(seconds)
