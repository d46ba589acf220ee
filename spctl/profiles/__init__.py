"""Kubelet profiles, one per way a distribution configures its kubelet.

Detection tries them in this order; an inventory may force one with ``profile:``.
"""

from __future__ import annotations

from typing import Any, Optional

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
    "follow_up",
]


def facts_request() -> dict[str, Any]:
    """What the agent must read so that any profile can detect and configure: the units,
    their environment files, each profile's files and drop-in globs. (The agent adds the
    directories the running kubelet was started with.)"""
    units: list[str] = []
    files: list[str] = []
    globs: list[str] = []
    dirs: list[str] = []
    for profile in PROFILES.values():
        units += [u for u in profile.units if u not in units]
        files += [f for f in profile.files if f not in files]
        globs += [g for g in profile.globs if g not in globs]
        dirs += [d for d in profile.known_dirs if d not in dirs]
    return {
        "units": units,
        "read": files,
        "read_globs": globs,
        "read_env_files": True,
        "manifest_dirs": dirs,
    }


def follow_up(facts: NodeFacts, forced: Optional[str] = None) -> Optional[dict[str, list[str]]]:
    """What a second facts call must add to the first request, or None when the first
    answer holds everything the node's profile reads (the usual case: one round trip)."""
    try:
        extra = detect(facts, forced).follow_up(facts)
    except ProfileError:
        return None
    missing = {
        "read": [p for p in extra.get("read", []) if p not in facts.files],
        "read_globs": [g for g in extra.get("read_globs", []) if g not in facts.globs],
        "manifest_dirs": [d for d in extra.get("manifest_dirs", []) if d not in facts.dirs],
    }
    return {k: v for k, v in missing.items() if v} or None


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
