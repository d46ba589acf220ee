"""k3s and rke2: the kubelet runs inside their own process; its directory follows the data dir.

Both start an embedded kubelet that watches ``<data-dir>/agent/pod-manifests`` (k3s
``pkg/agent/config/config.go``: ``PodManifests = filepath.Join(envInfo.DataDir, "agent",
DefaultPodManifestPath)``; rke2 ``pkg/executor/staticpod/spw.go``, ``PodManifestsDir``).
There is nothing to configure: asking for another directory is an error.

Both rewrite their process title, so ``/proc/PID/cmdline`` hides their flags. spctl reads
what systemd starts instead (the unit's ExecStart with its environment files, see
``unitexec``) and resolves each setting as their command line does:

- the config file is ``$K3S_CONFIG_FILE``, else ``--config``/``-c``, else
  ``/etc/rancher/<program>/config.yaml`` (k3s ``pkg/configfilearg/defaultparser.go``);
- the config file, then ``<config>.d/*.yaml|*.yml`` in lexical order, become flags inserted
  right after the subcommand: a later file replaces a key, a key ending in ``+`` appends to
  a list (``pkg/configfilearg/parser.go``, ``readConfigFile`` and ``dotDFiles``);
- flags on the command line come after them, so they win (the last occurrence of a flag
  counts); an environment variable (``K3S_NODE_NAME``, ``K3S_DATA_DIR``; ``RKE2_...`` for
  rke2, whose binary is k3s's command line built with ``version.Program = "rke2"``) applies
  only when no flag sets the value (urfave/cli reads ``EnvVar`` as the flag's default);
- the node name (``--node-name``, else the host name) is lowercased
  (``util.GetHostnameAndIPs``), then ``--with-node-id`` appends ``-`` and the id kept in
  ``/etc/rancher/node/id`` (``pkg/agent/config/config.go``, ``ensureNodeID``);
- the node IP (``--node-ip``/``-i``, a list flag: every occurrence adds, each may be a comma
  list; no environment variable) is the first address of that list, else the address of the
  default route's interface (``util.GetHostnameAndIPs``, ``ParseStringSliceToIPs``); k3s
  passes the list to its kubelet as ``--node-ip`` (``pkg/daemons/agent/agent_linux.go``
  kubeletArgsAndConfig), and a ``kubelet-arg`` ``node-ip=`` comes after k3s's own flags, so
  it wins. A hostNetwork pod's IP is that address (the agent's probes need it);
- the data dir defaults to ``/var/lib/rancher/k3s`` (``/var/lib/rancher/rke2``: rke2
  ``pkg/cli/cmds/server.go``, ``rke2Path``). Rootless k3s (``~/.rancher/k3s``) is not handled.

k3s's ``install.sh`` writes the ``K3S_*`` variables it was run with into
``/etc/systemd/system/k3s.service.env`` (``k3s-agent.service.env``), which the unit reads
with ``EnvironmentFile=-``; rke2's units read ``/etc/default/%N``, ``/etc/sysconfig/%N`` and
``/usr/local/lib/systemd/system/%N.env`` (``bundle/lib/systemd/system/rke2-server.service``).

rke2 writes its own control-plane pods into the same directory, one file per component,
``<component>.yaml`` (``pkg/executor/staticpod/staticpod.go``, ``writeTemplate`` and
``removeTemplate``; the names are ``pkg/podtemplate/types.go``), and rewrites or deletes
them itself: spctl refuses pods of those names there.
"""

from __future__ import annotations

import ipaddress
from typing import ClassVar, Optional

import yaml

from spctl.facts import NodeFacts, Unit
from spctl.manifest_url import TOKEN_HEADER
from spctl.profiles.base import FileEdit, KubeletChange, KubeletURL, Profile, ProfileError, same_dir
from spctl.profiles.kubelet_url import SECRET_MODE, fetches, header_token
from spctl.profiles.unitexec import unit_argv, unit_env

NODE_ID_FILE = "/etc/rancher/node/id"
SUBCOMMANDS = ("server", "agent")


#: The drop-in of k3s's or rke2's config directory that holds spctl's manifest URL.
URL_DROP_IN = "90-spctl-url.yaml"


class Rancher(Profile):
    program: ClassVar[str]
    default_data_dir: ClassVar[str]
    #: Pod (and file) names the distribution writes into the manifest directory itself.
    owned_pods: ClassVar[tuple[str, ...]] = ()

    @property
    def prefix(self) -> str:
        return self.program.upper()

    @property
    def default_config(self) -> str:
        return f"/etc/rancher/{self.program}/config.yaml"

    def detect(self, facts: NodeFacts) -> bool:
        return any(facts.unit(name) is not None for name in self.units)

    # -- what the command line and the config files say ----------------------------------

    def _unit(self, facts: NodeFacts) -> Optional[Unit]:
        return facts.unit(self.unit(facts))

    def _env(self, facts: NodeFacts) -> dict[str, str]:
        unit = self._unit(facts)
        return unit_env(facts, unit) if unit is not None else {}

    def _cli(self, facts: NodeFacts) -> list[str]:
        """The flags after the subcommand, as systemd starts the unit."""
        unit = self._unit(facts)
        if unit is None:
            return []
        argv = unit_argv(facts, unit) or list(unit.cmdline or ())
        for i, word in enumerate(argv):
            if word in SUBCOMMANDS:
                return argv[i + 1 :]
        return []

    def config_path(self, facts: NodeFacts) -> str:
        env = self._env(facts).get(f"{self.prefix}_CONFIG_FILE")
        if env:
            return env
        return _flag(self._cli(facts), ("config", "c")) or self.default_config

    def config_files(self, facts: NodeFacts) -> list[str]:
        """The config file (when it exists) and its drop-ins, in the order they are read."""
        path = self.config_path(facts)
        files = [path] if facts.file(path) is not None else []
        dropins = facts.globs.get(f"{path}.d/*", ())
        files += sorted(p for p in dropins if p.lower().endswith((".yaml", ".yml")))
        return files

    def _config_args(self, facts: NodeFacts) -> list[str]:
        """The flags the config files stand for, as ``readConfigFile`` builds them."""
        order: list[str] = []
        values: dict[str, object] = {}
        for path in self.config_files(facts):
            try:
                data = yaml.safe_load(facts.file(path) or "") or {}
            except yaml.YAMLError as exc:
                raise ProfileError(
                    f"{path} on the node is not valid YAML ({exc}); {self.program} would not "
                    "start with it either"
                ) from None
            if not isinstance(data, dict):
                raise ProfileError(f"{path} on the node is not a mapping of flag names")
            for raw_key, value in data.items():
                key = str(raw_key)
                append = key.endswith("+")
                if append:
                    key = key[:-1]
                if key not in values:
                    order.append(key)
                if append and key in values:
                    values[key] = _as_list(values[key]) + _as_list(value)
                else:
                    values[key] = value
        args = []
        for key in order:
            dashes = "-" if len(key) == 1 else "--"
            value = values[key]
            for item in value if isinstance(value, list) else [value]:
                args.append(f"{dashes}{key}={_go_string(item)}")
        return args

    def setting(
        self, facts: NodeFacts, names: tuple[str, ...], env: Optional[str], boolean: bool = False
    ) -> Optional[str]:
        """A flag's value: the command line over the config files, else the environment."""
        value = _flag(self._config_args(facts) + self._cli(facts), names, boolean)
        if value is not None:
            return value
        return self._env(facts).get(f"{self.prefix}_{env}") if env else None

    # -- the profile ---------------------------------------------------------------------

    def data_dir(self, facts: NodeFacts) -> str:
        value = self.setting(facts, ("data-dir", "d"), "DATA_DIR") or self.default_data_dir
        return value.rstrip("/") or "/"

    def manifest_dir(self, facts: NodeFacts) -> Optional[str]:
        return f"{self.data_dir(facts)}/agent/pod-manifests"

    def default_manifest_dir(self, facts: NodeFacts) -> str:
        return f"{self.data_dir(facts)}/agent/pod-manifests"

    def configure(self, facts: NodeFacts, directory: str) -> Optional[KubeletChange]:
        fixed = self.default_manifest_dir(facts)
        if not same_dir(directory, fixed):
            raise ProfileError(
                f"{self.program} always reads static pods from {fixed} (<data-dir>/agent/"
                f"pod-manifests); remove manifest_dir {directory} from this node's inventory entry"
            )
        return None

    def node_name(self, facts: NodeFacts) -> str:
        name = (self.setting(facts, ("node-name",), "NODE_NAME") or facts.hostname).lower()
        if _truthy(self.setting(facts, ("with-node-id",), None, boolean=True)):
            node_id = (facts.file(NODE_ID_FILE) or "").strip()
            if not node_id:
                raise ProfileError(
                    f"{self.program} runs with --with-node-id but {NODE_ID_FILE} is missing or "
                    f"empty; start {self.program} once (it writes the id), then deploy"
                )
            name = f"{name}-{node_id}"
        return name

    def node_ip(self, facts: NodeFacts) -> Optional[str]:
        """The node's primary IP as k3s or rke2 gives it to its kubelet (see the module's
        docstring); None when the configuration names none (the default route's address,
        which the agent finds itself)."""
        args = self._config_args(facts) + self._cli(facts)
        kubelet_ip = None
        for value in _flag_values(args, ("kubelet-arg",)):
            if value.startswith("node-ip="):
                kubelet_ip = _first_ip([value[len("node-ip=") :]])  # the kubelet's last wins
        return kubelet_ip or _first_ip(_flag_values(args, ("node-ip", "i")))

    def check_pods(self, facts: NodeFacts, names: list[str]) -> None:
        taken = [n for n in names if n in self.owned_pods]
        if taken:
            directory = self.default_manifest_dir(facts)
            raise ProfileError(
                f"{', '.join(taken)}: {self.program} writes its own static pods into {directory} "
                f"({', '.join(f'{p}.yaml' for p in self.owned_pods)}) and rewrites or deletes "
                "them itself; give spctl's pod another name"
            )

    # -- URL mode: a drop-in <config>.d/90-spctl-url.yaml with kubelet-arg+ (appended to any
    # kubelet-arg of the other files, k3s pkg/configfilearg/parser.go), mode 0600. The
    # kubelet runs inside k3s's or rke2's process, whose title they rewrite, so the token
    # is in no readable command line.

    def current_url(self, facts: NodeFacts) -> KubeletURL:
        url = token = None
        for arg in self._config_args(facts) + self._cli(facts):
            for prefix in ("--kubelet-arg=", "--kubelet-arg "):
                if arg.startswith(prefix):
                    value = arg[len(prefix) :]
                    if value.startswith("manifest-url="):
                        url = value.split("=", 1)[1]
                    elif value.startswith("manifest-url-header="):
                        token = header_token(value.split("=", 1)[1])
        return KubeletURL(url, token)

    def url_change(
        self, facts: NodeFacts, now: KubeletURL, url: Optional[str], token: Optional[str]
    ) -> tuple[KubeletChange, list[str]]:
        path = f"{self.config_path(facts)}.d/{URL_DROP_IN}"
        old_text = facts.file(path)
        if old_text is None and url is None:
            raise ProfileError(
                f"the kubelet fetches {now.url} from a kubelet-arg spctl did not write ({path} "
                "does not exist); remove it where it is set, then deploy again"
            )
        edit = FileEdit(path, old_text, url_drop_in(url, token), SECRET_MODE)
        return KubeletChange(self.unit(facts), (edit,), False, f"{path}: {fetches(url)}"), []

    def follow_up(self, facts: NodeFacts) -> dict[str, list[str]]:
        """A config file elsewhere than the default: read it and its drop-ins too. Config
        files are read as globs, so the agent redacts their secrets (``token:``)."""
        extra = super().follow_up(facts)
        path = self.config_path(facts)
        extra["read_globs"] = [path, f"{path}.d/*"]
        return extra


def url_drop_in(url: Optional[str], token: Optional[str]) -> str:
    """The drop-in that gives the kubelet its manifest URL and token header (or none)."""
    head = "# Written by spctl deploy: this node's static pods over HTTP (docs/url-mode.md).\n"
    if url is None:
        return head + "# URL mode is off for this node.\n"
    return head + yaml.safe_dump(
        {"kubelet-arg+": [f"manifest-url={url}", f"manifest-url-header={TOKEN_HEADER}:{token}"]},
        default_flow_style=False,
    )


def _flag(args: list[str], names: tuple[str, ...], boolean: bool = False) -> Optional[str]:
    """The last value of a flag (``--name=v``, ``--name v``, ``-name v``; one-letter aliases
    too, as Go's flag package accepts them); a bare boolean flag is ``"true"``."""
    values = _flag_values(args, names, boolean)
    return values[-1] if values else None


def _flag_values(args: list[str], names: tuple[str, ...], boolean: bool = False) -> list[str]:
    """Every value of a flag, in order (urfave/cli's StringSlice adds each occurrence); a bare
    boolean flag is ``"true"``."""
    values = []
    for i, word in enumerate(args):
        if not word.startswith("-"):
            continue
        key, eq, rest = word.lstrip("-").partition("=")
        if key not in names:
            continue
        if eq:
            values.append(rest)
        elif boolean:
            values.append("true")
        elif i + 1 < len(args):
            values.append(args[i + 1])
    return values


def _first_ip(values: list[str]) -> Optional[str]:
    """The first address of a list of comma lists of IPs, as ParseStringSliceToIPs reads
    them; an unspecified address (0.0.0.0, ::) names no node IP, as for the kubelet."""
    for value in values:
        for item in value.split(","):
            try:
                address = ipaddress.ip_address(item.strip())
            except ValueError:
                continue
            if not address.is_unspecified:
                return str(address)
    return None


def _truthy(value: Optional[str]) -> bool:
    # Go's strconv.ParseBool, which the flag package uses for boolean flags.
    return value is not None and value.lower() in ("1", "t", "true")


def _as_list(value: object) -> list:
    if isinstance(value, list):
        return value
    if value is None or str(value).strip() == "":
        return []
    return [value]


def _go_string(value: object) -> str:
    """A YAML scalar as wrangler's convert.ToString writes it (booleans as true/false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


class K3s(Rancher):
    name = "k3s"
    program = "k3s"
    units = ("k3s", "k3s-agent")
    files = (NODE_ID_FILE,)
    globs = ("/etc/rancher/k3s/config.yaml", "/etc/rancher/k3s/config.yaml.d/*")
    default_data_dir = "/var/lib/rancher/k3s"
    known_dirs = ("/var/lib/rancher/k3s/agent/pod-manifests",)


class Rke2(Rancher):
    name = "rke2"
    program = "rke2"
    units = ("rke2-server", "rke2-agent")
    files = (NODE_ID_FILE,)
    globs = ("/etc/rancher/rke2/config.yaml", "/etc/rancher/rke2/config.yaml.d/*")
    default_data_dir = "/var/lib/rancher/rke2"
    known_dirs = ("/var/lib/rancher/rke2/agent/pod-manifests",)
    owned_pods = (
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "cloud-controller-manager",
        "kube-proxy",
    )
