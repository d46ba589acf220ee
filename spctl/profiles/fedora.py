"""Fedora's ``kubernetes-node`` package: flags in ``KUBELET_ARGS`` of /etc/kubernetes/kubelet.

The unit reads /etc/kubernetes/config and /etc/kubernetes/kubelet as environment files;
``--pod-manifest-path`` goes into KUBELET_ARGS next to whatever flags are already there.
Environment files are read at each start, so a restart suffices (no daemon-reload).
"""

from __future__ import annotations

from typing import Optional

from spctl.facts import NodeFacts
from spctl.profiles.base import FileEdit, KubeletChange, Profile, norm_dir, same_dir
from spctl.profiles.envfile import flag_value, get_var, set_flag, set_var

ENV_FILE = "/etc/kubernetes/kubelet"
FLAG = "--pod-manifest-path"


class Fedora(Profile):
    name = "fedora"
    files = (ENV_FILE, "/etc/kubernetes/config")
    known_dirs = ("/etc/kubelet.d",)

    def detect(self, facts: NodeFacts) -> bool:
        unit = facts.unit("kubelet")
        if unit is not None and ENV_FILE in unit.environment_files:
            return True
        return (
            facts.file(ENV_FILE) is not None
            and unit is not None
            and not any(p.endswith("10-kubeadm.conf") for p in unit.drop_in_paths)
        )

    def manifest_dir(self, facts: NodeFacts) -> Optional[str]:
        args = get_var(facts.file(ENV_FILE) or "", "KUBELET_ARGS") or ""
        return norm_dir(flag_value(args, FLAG))

    def default_manifest_dir(self, facts: NodeFacts) -> str:
        return self.manifest_dir(facts) or "/etc/kubelet.d"

    def configure(self, facts: NodeFacts, directory: str) -> Optional[KubeletChange]:
        if same_dir(self.manifest_dir(facts), directory):
            return None
        old = facts.file(ENV_FILE)
        text = old or ""
        args = get_var(text, "KUBELET_ARGS") or ""
        new = set_var(text, "KUBELET_ARGS", set_flag(args, FLAG, directory.rstrip("/") + "/"))
        return KubeletChange(
            unit="kubelet",
            files=(FileEdit(ENV_FILE, old, new),),
            daemon_reload=False,
            reason=f"KUBELET_ARGS in {ENV_FILE} gets {FLAG}={directory}",
            flag=(FLAG, directory),
        )
