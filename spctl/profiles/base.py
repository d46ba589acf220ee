"""What a kubelet profile is: how one distribution tells its kubelet where static pods live.

A profile reads facts and decides; it never talks to a node. Adding a distribution means
adding one module with one :class:`Profile` subclass and listing it in ``profiles/__init__``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

from spctl_agent.protocol import DEFAULT_HEALTHZ_URL as DEFAULT_HEALTHZ

from spctl.errors import SpctlError
from spctl.facts import NodeFacts
from spctl.profiles.envfile import flag_value


class ProfileError(SpctlError):
    """The node's kubelet cannot be configured as asked."""


@dataclass(frozen=True)
class FileEdit:
    path: str
    old: Optional[str]  # None: the file does not exist yet
    new: str
    #: The file's mode when written (None: keep the file's own; 0o644 for a new one).
    mode: Optional[int] = None


@dataclass(frozen=True)
class KubeletURL:
    """The manifest URL and spctl's token the kubelet is configured with (None: none)."""

    url: Optional[str]
    token: Optional[str]


@dataclass(frozen=True)
class KubeletChange:
    """Files to rewrite, then restart ``unit`` (after daemon-reload if asked)."""

    unit: str
    files: tuple[FileEdit, ...]
    daemon_reload: bool
    reason: str
    #: The flag the restarted kubelet must carry on its command line (value None: must
    #: not carry it), so that a change the kubelet never read is caught and undone.
    flag: Optional[tuple[str, Optional[str]]] = None


class Profile:
    name: ClassVar[str]
    #: Units whose state the agent reports (the first loaded one is the kubelet's).
    units: ClassVar[tuple[str, ...]] = ("kubelet",)
    #: Files the agent reads for detection and configuration.
    files: ClassVar[tuple[str, ...]] = ()
    #: Manifest directories worth listing before the profile is known (its defaults).
    known_dirs: ClassVar[tuple[str, ...]] = ()
    #: Glob patterns of drop-in files the agent reads (``config.yaml.d/*``).
    globs: ClassVar[tuple[str, ...]] = ()

    def detect(self, facts: NodeFacts) -> bool:
        raise NotImplementedError

    def unit(self, facts: NodeFacts) -> str:
        for name in self.units:
            if facts.unit(name) is not None:
                return name
        return self.units[0]

    def manifest_dir(self, facts: NodeFacts) -> Optional[str]:
        """The directory the kubelet is configured to watch now, or None."""
        raise NotImplementedError

    def default_manifest_dir(self, facts: NodeFacts) -> str:
        """The directory to use when the inventory names none."""
        raise NotImplementedError

    def configure(self, facts: NodeFacts, directory: str) -> Optional[KubeletChange]:
        """The change that makes the kubelet watch ``directory``; None when it already does."""
        raise NotImplementedError

    def check_pods(self, facts: NodeFacts, names: list[str]) -> None:
        """Refuse pod names the distribution itself uses in the manifest directory."""

    def follow_up(self, facts: NodeFacts) -> dict[str, list[str]]:
        """What the agent must read on a second call when the first answer points elsewhere
        than the defaults (a custom data dir or config file): ``read``, ``read_globs`` and
        ``manifest_dirs``. Entries already read are dropped by ``profiles.follow_up``."""
        current = self.manifest_dir(facts)
        return {"manifest_dirs": [current] if current else []}

    def healthz_url(self, facts: NodeFacts) -> str:
        return DEFAULT_HEALTHZ

    # -- URL mode: a manifest URL beside the directory (docs/url-mode.md) ------------------

    def current_url(self, facts: NodeFacts) -> KubeletURL:
        """The manifest URL and spctl's token header the kubelet is configured with now."""
        raise ProfileError(f"profile {self.name} cannot point its kubelet at a manifest URL")

    def configure_url(
        self, facts: NodeFacts, url: Optional[str], token: Optional[str]
    ) -> tuple[Optional[KubeletChange], list[str]]:
        """The change that makes the kubelet fetch ``url`` with ``token`` (``url`` None:
        fetch no URL), or None when it already does; and warnings."""
        now = self.current_url(facts)
        if now.url == url and (url is None or now.token == token):
            return None, []
        return self.url_change(facts, now, url, token)

    def url_change(
        self, facts: NodeFacts, now: KubeletURL, url: Optional[str], token: Optional[str]
    ) -> tuple[KubeletChange, list[str]]:
        """The profile's own way to go from ``now`` to ``url`` (``configure_url``)."""
        raise ProfileError(f"profile {self.name} cannot point its kubelet at a manifest URL")

    def node_ip(self, facts: NodeFacts) -> Optional[str]:
        """The node IP the kubelet reports, when the profile knows it from files the kubelet's
        command line does not show (k3s, rke2); None: the agent reads the running kubelet's
        --node-ip itself, else takes the default route's address."""
        return None

    def node_name(self, facts: NodeFacts) -> str:
        """The kubelet's node name: --hostname-override, else the host name, lower-cased."""
        unit = facts.unit(self.unit(facts))
        override = (
            flag_value(unit.cmdline, "--hostname-override") if unit and unit.cmdline else None
        )
        return (override or facts.hostname).lower()


def norm_dir(path: Optional[str]) -> Optional[str]:
    """``/etc/kubelet.d/`` and ``/etc/kubelet.d`` are the same directory."""
    if not path:
        return None
    return path.rstrip("/") or "/"


def same_dir(a: Optional[str], b: Optional[str]) -> bool:
    if a is None or b is None:
        return False
    return a.rstrip("/") == b.rstrip("/")
