"""Kubelet profiles, one per way a distribution configures its kubelet.

Detection tries them in this order; an inventory may force one with ``profile:``.
"""

from __future__ import annotations

from typing import Optional

from spctl.facts import NodeFacts
from spctl.profiles.base import FileEdit, KubeletChange, Profile, ProfileError
from spctl.profiles.fedora import Fedora
from spctl.profiles.kubeadm import KubeadmDeb, KubeadmRpm
from spctl.profiles.rancher import K3s, Rke2

PROFILES: dict[str, Profile] = {
    p.name: p for p in (K3s(), Rke2(), KubeadmRpm(), KubeadmDeb(), Fedora())
}

__all__ = [
    "PROFILES",
    "FileEdit",
    "KubeletChange",
    "Profile",
    "ProfileError",
    "detect",
    "facts_request",
]


def facts_request() -> dict[str, list[str]]:
    """What the agent must read so that any profile can detect and configure. (The agent
    adds the directories the running kubelet was started with.)"""
    units: list[str] = []
    files: list[str] = []
    dirs: list[str] = []
    for profile in PROFILES.values():
        units += [u for u in profile.units if u not in units]
        files += [f for f in profile.files if f not in files]
        dirs += [d for d in profile.known_dirs if d not in dirs]
    return {"units": units, "read": files, "manifest_dirs": dirs}


def detect(facts: NodeFacts, forced: Optional[str] = None) -> Profile:
    if forced is not None:
        if forced not in PROFILES:
            raise ProfileError(f"unknown profile {forced!r}; known: {', '.join(PROFILES)}")
        return PROFILES[forced]
    for profile in PROFILES.values():
        if profile.detect(facts):
            return profile
    if not any(unit.loaded for unit in facts.units.values()):
        raise ProfileError(
            "no kubelet found (no kubelet, k3s or rke2 systemd unit): install one, or check "
            "that this is the right node"
        )
    raise ProfileError(
        "cannot tell how this node configures its kubelet; set `profile:` for it in the "
        f"inventory (one of {', '.join(PROFILES)})"
    )
