"""How a kubelet is told its manifest URL, as far as profiles share it: the flags, spctl's
token header, the KubeletConfiguration fields. Each profile points its own kubelet at a URL
with them (``Profile.current_url``, ``Profile.configure_url``).

The kubelet keeps its manifest directory as well: a URL is a second source
(``pkg/kubelet/kubelet.go``, ``makePodSourceConfig``: ``if kubeCfg.StaticPodURL != ""``
adds ``config.NewSourceURL`` next to ``NewSourceFile``), so foreign pods of the directory
(etcd, an API server, rke2's own) keep running.

Where each profile puts the URL and the token header:

- **fedora, config-file layout**: ``staticPodURL`` and ``staticPodURLHeader`` in the
  ``--config`` file (``KubeletConfiguration``), which becomes mode 0600: the token is in no
  command line. Refused when ``--manifest-url`` is on the command line (a flag overrides the
  file, ``cmd/kubelet/app/server.go``).
- **fedora, legacy layout**: ``--manifest-url`` and ``--manifest-url-header`` in
  ``KUBELET_ARGS`` (/etc/kubernetes/kubelet, mode 0600). The token is on the kubelet's
  command line, readable in /proc by every local user: warned.
- **kubeadm**: kubeadm owns /var/lib/kubelet/config.yaml and rewrites it on upgrade, so the
  flags go into ``KUBELET_EXTRA_ARGS`` (mode 0600); same warning.
- **k3s, rke2**: a drop-in ``<config>.d/90-spctl-url.yaml`` with ``kubelet-arg+`` (appended
  to any ``kubelet-arg`` of the other files, k3s ``pkg/configfilearg/parser.go``), mode 0600.
  Their kubelet runs inside their own process, whose title they rewrite, so the token is in
  no readable command line.

The header flag's value is ``Name:value`` (``--manifest-url-header``, a
``cliflag.ColonSeparatedMultimapStringString``): the token has no ``,`` or ``:``.
"""

from __future__ import annotations

import json
import re
from typing import Any, Optional

from spctl.facts import NodeFacts
from spctl.manifest_url import TOKEN_HEADER
from spctl.profiles.base import FileEdit, KubeletChange, KubeletURL
from spctl.profiles.envfile import flag_value, get_var, set_flag, set_var

URL_FLAG = "--manifest-url"
HEADER_FLAG = "--manifest-url-header"
#: Files holding a token are written with this mode.
SECRET_MODE = 0o600

PROC_WARNING = (
    "the token is in the kubelet's command line ({flag}), which every local user of the node "
    "can read in /proc; this profile has no kubelet configuration file spctl may edit"
)


def header_token(value: Optional[str]) -> Optional[str]:
    """spctl's token out of ``Name:value[,Name2:value2]``."""
    for pair in (value or "").split(","):
        name, _, token = pair.partition(":")
        if name.strip() == TOKEN_HEADER:
            return token.strip()
    return None


def config_file_url(config: dict[str, Any], args: list[str]) -> KubeletURL:
    """The URL of a kubelet with a KubeletConfiguration file: its flags over the file's
    ``staticPodURL`` and ``staticPodURLHeader``."""
    url = flag_value(args, URL_FLAG) or config.get("staticPodURL") or None
    header = config.get("staticPodURLHeader") or {}
    values = header.get(TOKEN_HEADER) if isinstance(header, dict) else None
    token = values[0] if isinstance(values, list) and values else None
    return KubeletURL(url, header_token(flag_value(args, HEADER_FLAG)) or token)


def env_var_url(facts: NodeFacts, path: str, var: str) -> KubeletURL:
    """The URL set by flags in the variable ``var`` of the environment file ``path``."""
    args = get_var(facts.file(path) or "", var) or ""
    return KubeletURL(flag_value(args, URL_FLAG), header_token(flag_value(args, HEADER_FLAG)))


def configure_env_var(
    facts: NodeFacts,
    unit: str,
    path: str,
    var: str,
    url: Optional[str],
    token: Optional[str],
    daemon_reload: bool,
) -> tuple[KubeletChange, list[str]]:
    """The flags for ``url`` and its token header in ``var`` of ``path`` (mode 0600); the
    token is then on the kubelet's command line, which is warned."""
    old_text = facts.file(path)
    args = get_var(old_text or "", var) or ""
    args = set_flag(args, URL_FLAG, url)
    args = set_flag(args, HEADER_FLAG, f"{TOKEN_HEADER}:{token}" if url else None)
    edit = FileEdit(path, old_text, set_var(old_text or "", var, args), SECRET_MODE)
    change = KubeletChange(
        unit, (edit,), daemon_reload, f"{var} in {path}: {fetches(url)}", flag=(URL_FLAG, url)
    )
    return change, [PROC_WARNING.format(flag=HEADER_FLAG)] if url else []


def fetches(url: Optional[str]) -> str:
    return f"the kubelet fetches {url}" if url else "the kubelet fetches no manifest URL"


_URL_LINE = re.compile(r"^staticPodURL:.*\n?", re.M)
_HEADER_BLOCK = re.compile(r"^staticPodURLHeader:.*\n?(?:[ \t-].*\n?)*", re.M)


def set_url_settings(text: str, url: Optional[str], token: Optional[str]) -> str:
    """A KubeletConfiguration with ``staticPodURL``/``staticPodURLHeader`` set (or removed),
    every other line kept (JSON is rewritten whole)."""
    if text.lstrip().startswith("{"):
        data: dict[str, Any] = json.loads(text)
        data.pop("staticPodURL", None)
        data.pop("staticPodURLHeader", None)
        if url is not None:
            data["staticPodURL"] = url
            data["staticPodURLHeader"] = {TOKEN_HEADER: [token]}
        return json.dumps(data, indent=2) + "\n"
    text = _HEADER_BLOCK.sub("", _URL_LINE.sub("", text))
    if url is None:
        return text
    if text and not text.endswith("\n"):
        text += "\n"
    header = json.dumps({TOKEN_HEADER: [token]})
    return text + f"staticPodURL: {json.dumps(url)}\nstaticPodURLHeader: {header}\n"
