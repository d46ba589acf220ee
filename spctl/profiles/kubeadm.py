"""kubeadm nodes (the kubelet and kubeadm packages, deb or rpm).

kubeadm writes ``staticPodPath`` into /var/lib/kubelet/config.yaml and rewrites that file
on ``kubeadm upgrade``, so spctl never edits it. Another directory goes into
``KUBELET_EXTRA_ARGS`` (/etc/default/kubelet on deb, /etc/sysconfig/kubelet on rpm) as
``--pod-manifest-path``, which overrides the config file. The drop-in 10-kubeadm.conf also
loads /var/lib/kubelet/kubeadm-flags.env; flags there count too.
"""

from __future__ import annotations

from typing import Optional

import yaml
from spctl_agent.protocol import HEALTHZ_ADDRESS, HEALTHZ_PORT

from spctl.facts import NodeFacts
from spctl.profiles.base import (
    FileEdit,
    KubeletChange,
    KubeletURL,
    Profile,
    ProfileError,
    norm_dir,
    same_dir,
)
from spctl.profiles.envfile import flag_value, get_var, set_flag, set_var
from spctl.profiles.kubelet_url import configure_env_var, env_var_url

CONFIG = "/var/lib/kubelet/config.yaml"
FLAGS_ENV = "/var/lib/kubelet/kubeadm-flags.env"
FLAG = "--pod-manifest-path"
DEFAULT_DIR = "/etc/kubernetes/manifests"


class Kubeadm(Profile):
    extra_args_file = "/etc/default/kubelet"
    files = (CONFIG, FLAGS_ENV, "/etc/default/kubelet", "/etc/sysconfig/kubelet")
    known_dirs = (DEFAULT_DIR,)

    def detect(self, facts: NodeFacts) -> bool:
        unit = facts.unit("kubelet")
        if unit is None:
            return False
        kubeadm = (
            any(p.endswith("10-kubeadm.conf") for p in unit.drop_in_paths)
            or facts.file(CONFIG) is not None
        )
        return kubeadm and self._flavour(facts) == self.name

    @staticmethod
    def _flavour(facts: NodeFacts) -> str:
        unit = facts.unit("kubelet")
        if unit is not None and "/etc/sysconfig/kubelet" in unit.environment_files:
            return "kubeadm-rpm"
        if unit is not None and "/etc/default/kubelet" in unit.environment_files:
            return "kubeadm-deb"
        family = f"{facts.os_release.get('ID', '')} {facts.os_release.get('ID_LIKE', '')}"
        return (
            "kubeadm-rpm"
            if any(x in family for x in ("rhel", "fedora", "centos", "suse"))
            else "kubeadm-deb"
        )

    def _config(self, facts: NodeFacts) -> dict:
        text = facts.file(CONFIG)
        if not text:
            return {}
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ProfileError(f"{CONFIG} on the node is not valid YAML: {exc}") from None
        return data if isinstance(data, dict) else {}

    def _extra_args(self, facts: NodeFacts) -> str:
        return get_var(facts.file(self.extra_args_file) or "", "KUBELET_EXTRA_ARGS") or ""

    def manifest_dir(self, facts: NodeFacts) -> Optional[str]:
        # Flags override the config file; KUBELET_EXTRA_ARGS comes last on the command line.
        for value in (
            flag_value(self._extra_args(facts), FLAG),
            flag_value(get_var(facts.file(FLAGS_ENV) or "", "KUBELET_KUBEADM_ARGS") or "", FLAG),
        ):
            if value:
                return norm_dir(value)
        return norm_dir(self._config(facts).get("staticPodPath"))

    def default_manifest_dir(self, facts: NodeFacts) -> str:
        return self.manifest_dir(facts) or DEFAULT_DIR

    def healthz_url(self, facts: NodeFacts) -> str:
        config = self._config(facts)
        address = config.get("healthzBindAddress") or HEALTHZ_ADDRESS
        return f"http://{address}:{config.get('healthzPort') or HEALTHZ_PORT}/healthz"

    def configure(self, facts: NodeFacts, directory: str) -> Optional[KubeletChange]:
        if same_dir(self.manifest_dir(facts), directory):
            return None
        old = facts.file(self.extra_args_file)
        text = old or ""
        args = self._extra_args(facts)
        if same_dir(self._config(facts).get("staticPodPath"), directory):
            value, reason = None, f"{FLAG} removed from KUBELET_EXTRA_ARGS (staticPodPath applies)"
        else:
            value, reason = (
                directory,
                f"KUBELET_EXTRA_ARGS in {self.extra_args_file} gets {FLAG}={directory}",
            )
        new = set_var(text, "KUBELET_EXTRA_ARGS", set_flag(args, FLAG, value))
        return KubeletChange(
            unit="kubelet",
            files=(FileEdit(self.extra_args_file, old, new),),
            daemon_reload=True,
            reason=reason,
            flag=(FLAG, value),
        )

    # URL mode: kubeadm owns /var/lib/kubelet/config.yaml and rewrites it on upgrade, so the
    # flags go into KUBELET_EXTRA_ARGS (mode 0600); the token is then readable in /proc.

    def current_url(self, facts: NodeFacts) -> KubeletURL:
        now = env_var_url(facts, self.extra_args_file, "KUBELET_EXTRA_ARGS")
        if now.url is None:
            return KubeletURL(self._config(facts).get("staticPodURL") or None, now.token)
        return now

    def url_change(
        self, facts: NodeFacts, now: KubeletURL, url: Optional[str], token: Optional[str]
    ) -> tuple[KubeletChange, list[str]]:
        return configure_env_var(
            facts, self.unit(facts), self.extra_args_file, "KUBELET_EXTRA_ARGS", url, token, True
        )


class KubeadmDeb(Kubeadm):
    name = "kubeadm-deb"
    extra_args_file = "/etc/default/kubelet"


class KubeadmRpm(Kubeadm):
    name = "kubeadm-rpm"
    extra_args_file = "/etc/sysconfig/kubelet"
