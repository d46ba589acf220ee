"""Pointing a kubelet at its manifest URL, each profile its own way.

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

import yaml

from spctl.facts import NodeFacts
from spctl.manifest_url import TOKEN_HEADER
from spctl.profiles import Profile, ProfileError
from spctl.profiles.base import FileEdit, KubeletChange
from spctl.profiles.envfile import flag_value, get_var, set_flag, set_var

URL_FLAG = "--manifest-url"
HEADER_FLAG = "--manifest-url-header"
#: Files holding a token are written with this mode.
SECRET_MODE = 0o600
RANCHER_DROP_IN = "90-spctl-url.yaml"

PROC_WARNING = (
    "the token is in the kubelet's command line ({flag}), which every local user of the node "
    "can read in /proc; this profile has no kubelet configuration file spctl may edit"
)


class URLConfig:
    """What the kubelet is configured with now, and the change to another URL (or none)."""

    def __init__(self, url: Optional[str], token: Optional[str]) -> None:
        self.url = url
        self.token = token


def current(profile: Profile, facts: NodeFacts) -> URLConfig:
    """The manifest URL and spctl's token header the kubelet is configured with now."""
    kind = _kind(profile, facts)
    if kind == "fedora-file":
        args = profile.kubelet_argv(facts)  # type: ignore[attr-defined]
        config = profile._config(facts)  # type: ignore[attr-defined]
        url = flag_value(args, URL_FLAG) or config.get("staticPodURL") or None
        header = config.get("staticPodURLHeader") or {}
        values = header.get(TOKEN_HEADER) if isinstance(header, dict) else None
        token = values[0] if isinstance(values, list) and values else None
        return URLConfig(url, _header_token(flag_value(args, HEADER_FLAG)) or token)
    if kind in ("fedora-flags", "kubeadm"):
        args = _args_text(profile, facts)
        url = flag_value(args, URL_FLAG)
        if url is None and kind == "kubeadm":
            url = profile._config(facts).get("staticPodURL") or None  # type: ignore[attr-defined]
        return URLConfig(url, _header_token(flag_value(args, HEADER_FLAG)))
    # k3s, rke2: --kubelet-arg=manifest-url=... from the config files and the command line
    args = profile._config_args(facts) + profile._cli(facts)  # type: ignore[attr-defined]
    url = token = None
    for arg in args:
        for prefix in ("--kubelet-arg=", "--kubelet-arg "):
            if arg.startswith(prefix):
                value = arg[len(prefix) :]
                if value.startswith("manifest-url="):
                    url = value.split("=", 1)[1]
                elif value.startswith("manifest-url-header="):
                    token = _header_token(value.split("=", 1)[1])
    return URLConfig(url, token)


def configure(
    profile: Profile, facts: NodeFacts, url: Optional[str], token: Optional[str]
) -> tuple[Optional[KubeletChange], list[str]]:
    """The change that makes the kubelet fetch ``url`` with ``token`` (``url`` None: fetch
    no URL), or None when it already does; and warnings."""
    now = current(profile, facts)
    if now.url == url and (url is None or now.token == token):
        return None, []
    kind = _kind(profile, facts)
    unit = profile.unit(facts)
    what = f"the kubelet fetches {url}" if url else "the kubelet fetches no manifest URL"
    if kind == "fedora-file":
        args = profile.kubelet_argv(facts)  # type: ignore[attr-defined]
        if flag_value(args, URL_FLAG) is not None:
            raise ProfileError(
                f"the kubelet's command line carries {URL_FLAG}, which overrides staticPodURL "
                "in its config file; remove it from KUBELET_ARGS, then deploy again"
            )
        path = profile.config_file(facts) or ""  # type: ignore[attr-defined]
        old = facts.file(path) or ""
        edit = FileEdit(path, old, set_url_settings(old, url, token), SECRET_MODE)
        reason = f"staticPodURL in {path}: {what} (file mode 0600)"
        return KubeletChange(unit, (edit,), False, reason), []
    if kind in ("fedora-flags", "kubeadm"):
        path, var = _args_file(profile)
        old_text = facts.file(path)
        args = get_var(old_text or "", var) or ""
        args = set_flag(args, URL_FLAG, url)
        args = set_flag(args, HEADER_FLAG, f"{TOKEN_HEADER}:{token}" if url else None)
        edit = FileEdit(path, old_text, set_var(old_text or "", var, args), SECRET_MODE)
        reason = f"{var} in {path}: {what}"
        warnings = [PROC_WARNING.format(flag=HEADER_FLAG)] if url else []
        return (
            KubeletChange(unit, (edit,), kind == "kubeadm", reason, flag=(URL_FLAG, url)),
            warnings,
        )
    # k3s, rke2
    path = f"{profile.config_path(facts)}.d/{RANCHER_DROP_IN}"  # type: ignore[attr-defined]
    old_text = facts.file(path)
    if old_text is None and url is None:
        raise ProfileError(
            f"the kubelet fetches {now.url} from a kubelet-arg spctl did not write ({path} "
            "does not exist); remove it where it is set, then deploy again"
        )
    edit = FileEdit(path, old_text, rancher_drop_in(url, token), SECRET_MODE)
    return KubeletChange(unit, (edit,), False, f"{path}: {what}"), []


def rancher_drop_in(url: Optional[str], token: Optional[str]) -> str:
    head = "# Written by spctl deploy: this node's static pods over HTTP (docs/url-mode.md).\n"
    if url is None:
        return head + "# URL mode is off for this node.\n"
    return head + yaml.safe_dump(
        {"kubelet-arg+": [f"manifest-url={url}", f"manifest-url-header={TOKEN_HEADER}:{token}"]},
        default_flow_style=False,
    )


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


def _kind(profile: Profile, facts: NodeFacts) -> str:
    if profile.name == "fedora":
        return "fedora-file" if profile.layout(facts) == "config-file" else "fedora-flags"  # type: ignore[attr-defined]
    if profile.name.startswith("kubeadm"):
        return "kubeadm"
    if profile.name in ("k3s", "rke2"):
        return "rancher"
    raise ProfileError(f"profile {profile.name} cannot point its kubelet at a manifest URL")


def _args_file(profile: Profile) -> tuple[str, str]:
    if profile.name == "fedora":
        return "/etc/kubernetes/kubelet", "KUBELET_ARGS"
    return profile.extra_args_file, "KUBELET_EXTRA_ARGS"  # type: ignore[attr-defined]


def _args_text(profile: Profile, facts: NodeFacts) -> str:
    path, var = _args_file(profile)
    return get_var(facts.file(path) or "", var) or ""


def _header_token(value: Optional[str]) -> Optional[str]:
    """spctl's token out of ``Name:value[,Name2:value2]``."""
    for pair in (value or "").split(","):
        name, _, token = pair.partition(":")
        if name.strip() == TOKEN_HEADER:
            return token.strip()
    return None
