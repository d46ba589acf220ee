"""Fedora's kubelet packages: flags in /etc/kubernetes/kubelet, or a configuration file.

Both layouts run the packaged kubelet unit, which reads /etc/kubernetes/config and
/etc/kubernetes/kubelet as environment files and expands their variables (``$KUBELET_ARGS``
...) on the kubelet's command line.

- **legacy** (the unversioned ``kubernetes-node`` package; the seed walkthrough's node): the
  kubelet is configured by flags, and ``--pod-manifest-path`` goes into ``KUBELET_ARGS`` next
  to whatever flags are already there.
- **config-file** (the versioned ``kubernetes1.NN`` packages since Fedora 41, with
  ``-kubeadm``, ``-systemd`` and ``-client`` packages): "Versioned rpms use the
  configuration file method" (Fedora Quick Docs, "Resilient kubelet configuration",
  quick-docs/using-kubernetes-kubelet): the command line carries ``--config=FILE``, a
  KubeletConfiguration whose ``staticPodPath`` is the directory. spctl sets ``staticPodPath``
  in that file (every other line kept) and takes ``--pod-manifest-path`` out of
  ``KUBELET_ARGS``, since a flag would override the file.

Which layout a node has is read from what the kubelet really runs: the unit's ExecStart with
its environment files (``unitexec``), else its running command line. The directory watched
now is ``--pod-manifest-path`` when present (a flag overrides the config file), else the
config file's ``staticPodPath``: so the guard that refuses to move the kubelet away from a
directory of foreign manifests holds in both layouts. Drop-ins of ``--config-dir`` (``*.conf``,
merged over the file in lexical order) count too, and the last one that sets
``staticPodPath`` is the file spctl edits. Environment files are read at each
start, so a restart suffices (no daemon-reload).
"""

from __future__ import annotations

import json
import re
from typing import Any, Optional

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
from spctl.profiles.envfile import flag_value, get_var, parse_env, set_flag, set_var
from spctl.profiles.kubelet_url import (
    SECRET_MODE,
    URL_FLAG,
    config_file_url,
    configure_env_var,
    env_var_url,
    fetches,
    set_url_settings,
)
from spctl.profiles.unitexec import unit_argv

ENV_FILE = "/etc/kubernetes/kubelet"
CONFIG_ENV = "/etc/kubernetes/config"
FLAG = "--pod-manifest-path"
_STATIC_POD_PATH = re.compile(r"^staticPodPath:.*$", re.M)


class Fedora(Profile):
    name = "fedora"
    files = (ENV_FILE, CONFIG_ENV)
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

    # -- what the kubelet runs with ---------------------------------------------------------

    def kubelet_argv(self, facts: NodeFacts) -> list[str]:
        """The kubelet's flags as systemd starts it; without an ExecStart from the agent, the
        running command line, else every variable of the two environment files."""
        unit = facts.unit("kubelet")
        if unit is not None:
            argv = unit_argv(facts, unit)
            if argv is not None:
                return argv
            if unit.cmdline:
                return list(unit.cmdline)
        words: list[str] = []
        for path in (CONFIG_ENV, ENV_FILE):
            for value in parse_env(facts.file(path) or "").values():
                words += value.split()
        return words

    def config_file(self, facts: NodeFacts) -> Optional[str]:
        """The ``--config`` file the kubelet reads, or None (the legacy layout)."""
        return flag_value(self.kubelet_argv(facts), "--config")

    def config_dir(self, facts: NodeFacts) -> Optional[str]:
        """The ``--config-dir`` of drop-ins merged over the config file, or None."""
        value = flag_value(self.kubelet_argv(facts), "--config-dir")
        return value.rstrip("/") if value else None

    def _dropins(self, facts: NodeFacts) -> list[str]:
        """The drop-ins that set staticPodPath, in the order the kubelet merges them
        (cmd/kubelet/app/server.go, mergeKubeletConfigurations: every ``*.conf`` in lexical
        order, a later one winning; files in subdirectories are not read here)."""
        directory = self.config_dir(facts)
        if directory is None:
            return []
        found = []
        for path in sorted(facts.globs.get(f"{directory}/*.conf", ())):
            if "staticPodPath" in _load(path, facts.file(path)):
                found.append(path)
        return found

    def layout(self, facts: NodeFacts) -> str:
        return "config-file" if self.config_file(facts) else "legacy"

    def _config(self, facts: NodeFacts) -> dict[str, Any]:
        path = self.config_file(facts)
        if path is None:
            return {}
        text = facts.file(path)
        if text is None:
            raise ProfileError(
                f"the kubelet runs with --config={path}, which the agent could not read on the "
                "node; the kubelet does not start without it"
            )
        data = dict(_load(path, text))
        for dropin in self._dropins(facts):
            data["staticPodPath"] = _load(dropin, facts.file(dropin))["staticPodPath"]
        return data

    def manifest_dir(self, facts: NodeFacts) -> Optional[str]:
        flag = flag_value(self.kubelet_argv(facts), FLAG)
        if flag:
            return norm_dir(flag)
        return norm_dir(self._config(facts).get("staticPodPath"))

    def healthz_url(self, facts: NodeFacts) -> str:
        """healthz where this kubelet serves it: its flags over its config file's
        ``healthzBindAddress``/``healthzPort`` over the kubelet's defaults."""
        argv = self.kubelet_argv(facts)
        config = self._config(facts)
        address = (
            flag_value(argv, "--healthz-bind-address")
            or config.get("healthzBindAddress")
            or HEALTHZ_ADDRESS
        )
        port = flag_value(argv, "--healthz-port") or config.get("healthzPort") or HEALTHZ_PORT
        return f"http://{address}:{port}/healthz"

    def default_manifest_dir(self, facts: NodeFacts) -> str:
        return self.manifest_dir(facts) or "/etc/kubelet.d"

    def follow_up(self, facts: NodeFacts) -> dict[str, list[str]]:
        # The config file and its drop-ins are named on the command line: read them first;
        # the directory they name is listed by the call after (or by the agent itself, for
        # a running kubelet).
        extra: dict[str, list[str]] = {}
        config, directory = self.config_file(facts), self.config_dir(facts)
        if directory and f"{directory}/*.conf" not in facts.globs:
            extra["read_globs"] = [f"{directory}/*.conf"]
        if config and facts.file(config) is None:
            extra["read"] = [config]
        if extra:
            flag = flag_value(self.kubelet_argv(facts), FLAG)
            extra["manifest_dirs"] = [norm_dir(flag) or ""] if flag else []
            return extra
        return super().follow_up(facts)

    # -- changing it ------------------------------------------------------------------------

    def configure(self, facts: NodeFacts, directory: str) -> Optional[KubeletChange]:
        if same_dir(self.manifest_dir(facts), directory):
            return None
        if self.layout(facts) == "legacy":
            return self._configure_flag(facts, directory)
        return self._configure_file(facts, directory)

    def _configure_flag(self, facts: NodeFacts, directory: str) -> KubeletChange:
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

    def _configure_file(self, facts: NodeFacts, directory: str) -> KubeletChange:
        path = self.config_file(facts) or ""
        edits = []
        reasons = []
        config = self._config(facts)
        if not same_dir(config.get("staticPodPath"), directory):
            # The file whose staticPodPath the kubelet ends up with: the last drop-in that
            # sets it, else the config file.
            target = (self._dropins(facts) or [path])[-1]
            old = facts.file(target) or ""
            edits.append(FileEdit(target, old, set_static_pod_path(old, directory)))
            reasons.append(f"staticPodPath in {target} becomes {directory}")
        if flag_value(self.kubelet_argv(facts), FLAG) is not None:
            env_text = facts.file(ENV_FILE) or ""
            args = get_var(env_text, "KUBELET_ARGS") or ""
            if flag_value(args, FLAG) is None:
                raise ProfileError(
                    f"the kubelet's command line carries {FLAG}, which overrides staticPodPath "
                    f"in {path}, but not from KUBELET_ARGS in {ENV_FILE}; remove it where it is "
                    "set, then deploy again"
                )
            edits.append(
                FileEdit(
                    ENV_FILE,
                    facts.file(ENV_FILE),
                    set_var(env_text, "KUBELET_ARGS", set_flag(args, FLAG, None)),
                )
            )
            reasons.append(
                f"{FLAG} removed from KUBELET_ARGS in {ENV_FILE} (the config file applies)"
            )
        return KubeletChange(
            unit="kubelet",
            files=tuple(edits),
            daemon_reload=False,
            reason="; ".join(reasons),
            flag=(FLAG, None),
        )

    # -- URL mode -----------------------------------------------------------------------------
    # config-file layout: staticPodURL and staticPodURLHeader in the --config file, which
    # becomes mode 0600, so the token is in no command line; refused when --manifest-url is
    # on the command line (a flag overrides the file, cmd/kubelet/app/server.go). Legacy
    # layout: the flags in KUBELET_ARGS (mode 0600), the token then readable in /proc.

    def current_url(self, facts: NodeFacts) -> KubeletURL:
        if self.layout(facts) == "config-file":
            return config_file_url(self._config(facts), self.kubelet_argv(facts))
        return env_var_url(facts, ENV_FILE, "KUBELET_ARGS")

    def url_change(
        self, facts: NodeFacts, now: KubeletURL, url: Optional[str], token: Optional[str]
    ) -> tuple[KubeletChange, list[str]]:
        if self.layout(facts) == "legacy":
            return configure_env_var(
                facts, self.unit(facts), ENV_FILE, "KUBELET_ARGS", url, token, False
            )
        if flag_value(self.kubelet_argv(facts), URL_FLAG) is not None:
            raise ProfileError(
                f"the kubelet's command line carries {URL_FLAG}, which overrides staticPodURL "
                "in its config file; remove it from KUBELET_ARGS, then deploy again"
            )
        path = self.config_file(facts) or ""
        old = facts.file(path) or ""
        edit = FileEdit(path, old, set_url_settings(old, url, token), SECRET_MODE)
        reason = f"staticPodURL in {path}: {fetches(url)} (file mode 0600)"
        return KubeletChange(self.unit(facts), (edit,), False, reason), []


def _load(path: str, text: Optional[str]) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text or "")  # YAML or JSON, as the kubelet accepts
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path} on the node is not valid YAML: {exc}") from None
    return data if isinstance(data, dict) else {}


def set_static_pod_path(text: str, directory: str) -> str:
    """A KubeletConfiguration with ``staticPodPath`` set, every other line kept (JSON is
    rewritten whole: it has no lines to keep)."""
    if text.lstrip().startswith("{"):
        data = json.loads(text)
        data["staticPodPath"] = directory
        return json.dumps(data, indent=2) + "\n"
    line = f"staticPodPath: {directory}"
    if _STATIC_POD_PATH.search(text):
        return _STATIC_POD_PATH.sub(lambda _: line, text, count=1)
    return (text if not text or text.endswith("\n") else text + "\n") + line + "\n"
