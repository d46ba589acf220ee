"""k3s and rke2: the directory is fixed by the distribution.

Both run an embedded kubelet that always watches ``<data-dir>/agent/pod-manifests``; there
is nothing to configure, and asking for another directory is an error. rke2 keeps its own
control-plane manifests in the same directory, which is why spctl never touches a file it
did not write.
"""

from __future__ import annotations

from typing import Optional

import yaml

from spctl.facts import NodeFacts
from spctl.profiles.base import KubeletChange, Profile, ProfileError, same_dir


class Rancher(Profile):
    fixed_dir: str

    def detect(self, facts: NodeFacts) -> bool:
        return any(facts.unit(name) is not None for name in self.units)

    def manifest_dir(self, facts: NodeFacts) -> Optional[str]:
        return self.fixed_dir

    def default_manifest_dir(self, facts: NodeFacts) -> str:
        return self.fixed_dir

    def configure(self, facts: NodeFacts, directory: str) -> Optional[KubeletChange]:
        if not same_dir(directory, self.fixed_dir):
            raise ProfileError(
                f"{self.name} always reads static pods from {self.fixed_dir}; remove manifest_dir "
                f"{directory} from this node's inventory entry"
            )
        return None

    def node_name(self, facts: NodeFacts) -> str:
        """``node-name`` from the distribution's config.yaml, else the kubelet's rule."""
        for path in self.files:
            try:
                config = yaml.safe_load(facts.file(path) or "") or {}
            except yaml.YAMLError:
                config = {}
            if isinstance(config, dict) and config.get("node-name"):
                return str(config["node-name"]).lower()
        return super().node_name(facts)


class K3s(Rancher):
    name = "k3s"
    units = ("k3s", "k3s-agent")
    files = ("/etc/rancher/k3s/config.yaml",)
    fixed_dir = "/var/lib/rancher/k3s/agent/pod-manifests"
    known_dirs = (fixed_dir,)


class Rke2(Rancher):
    name = "rke2"
    units = ("rke2-server", "rke2-agent")
    files = ("/etc/rancher/rke2/config.yaml",)
    fixed_dir = "/var/lib/rancher/rke2/agent/pod-manifests"
    known_dirs = (fixed_dir,)
