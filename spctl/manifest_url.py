"""A node's manifest URL: its path, the token header and tokens, the secret, the size bound.

A node with ``source: url`` gets its pods from the kubelet's HTTP source instead of a
directory. What that source does (kubernetes ``pkg/kubelet/config/http.go``, with
``common.go`` for decoding, ``pkg/kubelet/kubelet.go`` ``makePodSourceConfig`` for the header):

- it GETs ``staticPodURL`` / ``--manifest-url`` every ``httpCheckFrequency`` (default 20 s,
  ``pkg/kubelet/apis/config/v1beta1/defaults.go``) with a 10 s client timeout, sending the
  headers of ``staticPodURLHeader`` / ``--manifest-url-header`` (a map of name to values);
- a status other than 200, a transport error or a body of 10 MiB or more
  (``maxConfigLength``, read with ``k8s.io/utils/io`` ``ReadAtMost``, which fails once it has
  read that many bytes) is an error: logged, and the pods it had stay as they are;
- a body identical to the last one it decoded is skipped;
- an empty body removes every pod of the source and is logged as an error, *without*
  remembering it: the last non-empty body stays the reference, so serving that same body
  again later is skipped and the pods do not come back. spctl never answers with an empty
  body: a node without pods gets an empty PodList, which removes them and is remembered;
- the body is decoded first as a single Pod, then as a PodList (``kind: PodList``; a generic
  ``List`` decodes to another type and is refused). A pod's UID is the hash of the decoded pod
  and of the URL (``applyDefaults``), so a pod changes UID when the URL changes.

spctl always answers with a PodList in JSON, in the inventory's pod order: one shape whatever
the number of pods (a node going from one pod to two changes nothing but ``items``), and JSON
because the PodList path decodes the raw body without first converting YAML.

Each node has its own path, ``/nodes/<node>/pods.json``, guarded by a per-node token in the
``X-Spctl-Token`` header. The token is HMAC-SHA256 over the node's name, keyed with a secret
file that only the control host holds, so the inventory names no secret and a node's token
reads only that node's pods. The header name and a token (64 hex digits) contain no ``,``,
``:`` or space, so ``--manifest-url-header=X-Spctl-Token:<token>`` needs no quoting: the flag
splits its value on ``,`` and each pair on the first ``:``, trimming spaces
(``component-base/cli/flag/colon_separated_multimap_string_string.go``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import stat
from pathlib import Path
from urllib.parse import urlsplit

from spctl.errors import SpctlError

#: The header the kubelet sends with each poll; its value is the node's token.
TOKEN_HEADER = "X-Spctl-Token"  # noqa: S105 - a header name, not a secret
#: Where a node's pods are, under the base URL (and under ``render --out DIR``).
PODS_PATH = "/nodes/{node}/pods.json"
#: Where ``spctl serve`` says what it serves a node (JSON; same token).
DIGEST_PATH = "/nodes/{node}/digest"
#: The file name of a node's document, under ``DIR/nodes/<node>/`` for ``render --out``.
DOCUMENT_FILE = "pods.json"
CONTENT_TYPE = "application/json"
#: The kubelet's limit (http.go reads at most ``maxConfigLength`` = 10 MiB, and a body that
#: reaches it is an error): the largest document it accepts is one byte less.
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024 - 1
#: The secret's file name, beside the inventory unless ``url.secret_file`` says otherwise.
DEFAULT_SECRET_FILE = "spctl-url.secret"  # noqa: S105 - a file name
DEFAULT_LISTEN = "127.0.0.1:8080"

# Node names that are safe as one URL path segment and one directory name, unquoted.
_NODE_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$")
_TOKEN_CONTEXT = b"spctl node token v1\0"


class SecretError(SpctlError):
    """The secret file is missing, unreadable, too open or too short."""


def node_name_problem(name: str) -> str | None:
    if not _NODE_NAME.match(name) or ".." in name:
        return (
            f"node name {name!r} cannot be a URL path segment; in URL mode a node's name may "
            "hold only letters, digits, '.', '-' and '_', starting and ending with a letter or digit"
        )
    return None


def base_url_problem(base: str) -> str | None:
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{base!r} must be an http:// or https:// URL with a host"
    if parts.username or parts.password:
        return f"{base!r} must not carry credentials (nodes authenticate with their token)"
    if parts.query or parts.fragment:
        return f"{base!r} must not have a query or a fragment"
    if "," in base:
        return f"{base!r} must not contain ','"
    return None


def node_path(node: str) -> str:
    return PODS_PATH.format(node=node)


def node_url(base: str, node: str) -> str:
    """The URL a node's kubelet polls: ``<base>/nodes/<node>/pods.json``."""
    return base.rstrip("/") + node_path(node)


def parse_listen(text: str) -> tuple[str, int]:
    """``ADDR:PORT`` or ``[V6ADDR]:PORT``; the address is required (never a silent 0.0.0.0)."""
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"{text!r} must be ADDR:PORT, such as 127.0.0.1:8080 or [::1]:8080")
    return host, int(port)


# --- the secret and the tokens -------------------------------------------------------------


def init_secret(path: Path) -> bool:
    """Create the secret file (mode 0600, 32 random bytes as hex); False if it exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
        f.flush()
        os.fsync(f.fileno())
    return True


def read_secret(path: Path) -> bytes:
    hint = f"create it with `spctl serve --init-secret` (file {path})"
    try:
        info = path.stat()
        text = path.read_bytes().strip()
    except FileNotFoundError:
        raise SecretError(f"URL mode secret {path} does not exist; {hint}") from None
    except OSError as exc:
        raise SecretError(f"cannot read URL mode secret {path}: {exc.strerror}") from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretError(
            f"URL mode secret {path} is open to others (mode {stat.S_IMODE(info.st_mode):04o}); "
            f"run `chmod 600 {path}`"
        )
    if len(text) < 32:
        raise SecretError(f"URL mode secret {path} is shorter than 32 bytes; {hint} anew")
    return text


def node_token(secret: bytes, node: str) -> str:
    """The token node ``node`` sends in :data:`TOKEN_HEADER`: 64 lower-case hex digits."""
    return hmac.new(secret, _TOKEN_CONTEXT + node.encode(), hashlib.sha256).hexdigest()


def kubelet_header(secret_file: Path, node: str) -> dict[str, list[str]]:
    """``staticPodURLHeader`` for ``node``'s kubelet configuration (name to list of values)."""
    return {TOKEN_HEADER: [node_token(read_secret(secret_file), node)]}


def token_matches(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())
