"""The inventory: nodes, groups, defaults, and the pods each node should run.

Precedence, lowest first, written once here (``_resolve_node``):

    1. built-in defaults (ssh user root, port 22, the profile's own manifest directory)
    2. ``defaults:``
    3. each group the node belongs to, in the order the groups are written in the file
    4. the node itself
    5. ``~/.ssh/config`` fills SSH fields that none of the above set (host name, port,
       user, identity file, known hosts file, ProxyJump)

Mappings (``vars``, ``labels``, ``ssh``) merge key by key, the later level winning per key;
scalars (``profile``, ``manifest_dir``, ``source``) are replaced; ``pods`` accumulate, and a later entry
with the same pod name replaces the earlier one whole (its template and its files).

A pod entry may name ``files:`` the pod reads through a ``hostPath`` (its configuration,
certificates): each a path on the node with its content from a ``template`` (rendered as
the pod's is), a plain ``source`` file or a ``secret``, and a ``mode``, ``owner`` and
``group`` (:class:`FileRef`, checked here: ``_file_ref`` and ``_check_files``).

Templates see the node's vars at the top level beside ``node``, ``pod``, ``groups`` and
``nodes`` (``spctl.desired.fleet.CONTEXT_NAMES``): a variable of one of those names would hide
it or be hidden, so it is refused wherever it is set. The fleet view every template reads
(``Inventory.fleet``) is built once, here, when the inventory is loaded.

``source`` says how the node's kubelet gets its pods: ``file`` (the default: a manifest
directory, written over SSH) or ``url`` (the kubelet polls ``spctl serve`` at
:attr:`Node.manifest_url`; see ``spctl/manifest_url.py`` and docs/url-mode.md). The top-level
``url:`` block says where the kubelets reach that server and where its secret lives.

A variable may be a secret reference, ``{secret: {env|file|age: ...}}``: checked here and
kept as a reference (``spctl/desired/secrets.py``), read only when a template uses it. The
top-level ``secrets:`` block names the age key file.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

import paramiko
from spctl_agent.protocol import STATE_DIR

from spctl import manifest_url
from spctl.desired.fleet import CONTEXT_NAMES, Fleet
from spctl.desired.secrets import SecretSettings, normalise_vars, parse_ref, parse_settings
from spctl.desired.validation.static_pod import validate_pod_name
from spctl.desired.yamlio import ManifestError, parse_manifest
from spctl.errors import InventoryError
from spctl.profiles import PROFILES
from spctl.transport.target import DEFAULT_CONNECT_TIMEOUT, SSHTarget

TOP_KEYS = {"defaults", "groups", "nodes", "secrets", "templates", "url"}
LEVEL_KEYS = {"ssh", "vars", "labels", "pods", "profile", "manifest_dir", "source"}
URL_KEYS = {"base", "secret_file", "listen"}
SOURCES = ("file", "url")
GROUP_KEYS = LEVEL_KEYS | {"members"}
NODE_KEYS = LEVEL_KEYS | {"address"}
SSH_KEYS = {"user", "port", "key", "known_hosts", "jump", "sudo", "connect_timeout"}


#: A pod's file is at most this large (its bytes as rendered or read): configuration and
#: certificates are small, and every byte travels in the agent's request.
MAX_FILE_BYTES = 1024 * 1024
FILE_KEYS = {"path", "template", "source", "secret", "mode", "owner", "group"}
#: Where a pod's file may never go: the kernel's and devices' pseudo file systems.
FORBIDDEN_ROOTS = ("/proc", "/sys", "/dev")
#: A file's content comes from exactly one of these.
FILE_CONTENT_KEYS = ("template", "source", "secret")


@dataclass(frozen=True)
class FileRef:
    """One file of a pod on the node: ``path`` (absolute, normalised), its content from
    ``template`` (a Jinja file rendered as the pod's template), ``source`` (a plain file)
    or ``secret`` (resolved by ``spctl.desired.secrets``), and its mode (None: 0644, 0600
    for a secret), owner and group (a name or a number as text; None: root)."""

    path: str
    kind: str  # "template" | "source" | "secret"
    file: Optional[Path] = None  # the template or source file
    secret: Optional[Mapping[str, Any]] = None
    mode: Optional[int] = None
    owner: Optional[str] = None
    group: Optional[str] = None

    def as_dict(self) -> dict[str, Any]:
        described: dict[str, Any] = {"path": self.path}
        described[self.kind] = dict(self.secret or {}) if self.kind == "secret" else str(self.file)
        if self.mode is not None:
            described["mode"] = f"{self.mode:04o}"
        described.update({k: v for k, v in (("owner", self.owner), ("group", self.group)) if v})
        return described


@dataclass(frozen=True)
class PodRef:
    name: str
    template: Path
    files: tuple[FileRef, ...] = ()


@dataclass(frozen=True)
class SSHSettings:
    user: Optional[str] = None
    port: Optional[int] = None
    key: Optional[str] = None
    known_hosts: Optional[str] = None
    jump: Optional[str] = None
    sudo: Optional[bool] = None
    connect_timeout: Optional[float] = None


@dataclass(frozen=True)
class URLSettings:
    """The inventory's ``url:`` block: how kubelets reach ``spctl serve`` and its secret.

    ``base`` is the URL the kubelets use (``http://10.0.0.5:8080``), ``secret_file`` the file
    every node's token derives from (never the tokens themselves), ``listen`` the default
    address ``spctl serve`` binds to.
    """

    base: Optional[str] = None
    secret_file: Path = Path(manifest_url.DEFAULT_SECRET_FILE)
    listen: Optional[str] = None


@dataclass(frozen=True)
class Node:
    name: str
    address: str
    ssh: SSHSettings
    labels: Mapping[str, str] = field(default_factory=dict)
    vars: Mapping[str, Any] = field(default_factory=dict)
    groups: tuple[str, ...] = ()
    profile: Optional[str] = None
    manifest_dir: Optional[str] = None
    pods: tuple[PodRef, ...] = ()
    source: str = "file"
    #: Where this node's kubelet fetches its pods when ``source`` is ``url`` (else None).
    manifest_url: Optional[str] = None
    #: The inventory's ``secrets:`` block: where the age key for its secrets is.
    secrets: SecretSettings = field(default_factory=SecretSettings)

    def target(
        self, host_key_policy: str = "strict", connect_timeout: Optional[float] = None
    ) -> SSHTarget:
        return _ssh_target(self.address, self.ssh, host_key_policy, connect_timeout)

    @property
    def needs_sudo(self) -> bool:
        if self.ssh.sudo is not None:
            return self.ssh.sudo
        return (self.ssh.user or "root") != "root"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "address": self.address,
            "ssh": {k: v for k, v in vars(self.ssh).items() if v is not None},
            "groups": list(self.groups),
            "labels": dict(self.labels),
            "vars": dict(self.vars),
            "profile": self.profile,
            "manifest_dir": self.manifest_dir,
            "pods": [
                {
                    "name": p.name,
                    "template": str(p.template),
                    **({"files": [f.as_dict() for f in p.files]} if p.files else {}),
                }
                for p in self.pods
            ],
            "source": self.source,
            "url": self.manifest_url,
        }


@dataclass(frozen=True)
class Inventory:
    path: Path
    nodes: Mapping[str, Node]
    groups: Mapping[str, tuple[str, ...]]
    url: URLSettings = field(default_factory=URLSettings)
    secrets: SecretSettings = field(default_factory=SecretSettings)
    #: ``groups`` and ``nodes`` as every template sees them: the whole inventory, read-only.
    fleet: Fleet = field(default_factory=Fleet, compare=False, repr=False)

    def select(
        self,
        names: Iterable[str] = (),
        selectors: Iterable[str] = (),
        all_nodes: bool = False,
        require: bool = True,
    ) -> list[Node]:
        """Nodes by name or group name, by ``key=value`` label selectors (all must match),
        or all. With ``require``, selecting nothing is an error."""
        names, selectors = list(names), list(selectors)
        if not (names or selectors or all_nodes):
            if require:
                raise InventoryError("select nodes with --node NAME, -l KEY=VALUE or --all")
            return list(self.nodes.values())
        chosen: dict[str, Node] = {}
        for name in names:
            if name in self.nodes:
                chosen[name] = self.nodes[name]
            elif name in self.groups:
                chosen.update({m: self.nodes[m] for m in self.groups[name]})
            else:
                known = ", ".join(sorted(self.nodes)) or "none"
                raise InventoryError(
                    f"unknown node or group {name!r} in {self.path}; known nodes: {known}"
                )
        candidates = list(self.nodes.values()) if all_nodes or not names else list(chosen.values())
        if selectors:
            wanted = [_parse_selector(s) for s in selectors]
            matched = [n for n in candidates if all(n.labels.get(k) == v for k, v in wanted)]
            if not matched:
                raise InventoryError(f"no node in {self.path} matches -l {','.join(selectors)}")
            return matched
        return candidates if all_nodes else list(chosen.values())


def _parse_selector(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise InventoryError(f"label selector {text!r} must be KEY=VALUE")
    return key.strip(), value.strip()


def load_inventory(path: Path | str, ssh_config: Optional[Path] = None) -> Inventory:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InventoryError(f"inventory {path} not found") from None
    except IsADirectoryError:
        raise InventoryError(f"inventory {path} is a directory, not a file") from None
    except OSError as exc:
        raise InventoryError(f"cannot read inventory {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise InventoryError(
            f"{path}: line {line}: byte {exc.object[exc.start]:#04x} is not UTF-8; save the "
            "inventory as UTF-8 text"
        ) from None
    try:
        data = parse_manifest(text, source=str(path))
    except ManifestError as exc:
        message = str(exc)
        if "expected a mapping" in message:  # the wording is a Pod's; say it for an inventory
            found = message.split("the manifest is ", 1)[-1].split(", expected", 1)[0]
            message = (
                f"{path}: the inventory is {found}; expected a mapping with `nodes:` "
                "(see inventory/example.yaml)"
            )
        raise InventoryError(message) from None
    return _build(path, data, _load_ssh_config(ssh_config))


def _load_ssh_config(path: Optional[Path]) -> Optional[paramiko.SSHConfig]:
    path = path or Path("~/.ssh/config").expanduser()
    if not path.exists():
        return None
    try:
        return paramiko.SSHConfig.from_path(str(path))
    except Exception as exc:  # paramiko raises several kinds for a bad file
        raise InventoryError(f"cannot read {path}: {exc}") from None


def _mapping(value: Any, where: str, allowed: Optional[set[str]] = None) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InventoryError(f"{where}: expected a mapping, got {type(value).__name__}")
    if allowed is not None:
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise InventoryError(
                f"{where}: unknown key {unknown[0]!r}; expected one of {', '.join(sorted(allowed))}"
            )
    return value


def _build(path: Path, data: dict[str, Any], ssh_config: Optional[paramiko.SSHConfig]) -> Inventory:
    where = str(path)
    _mapping(data, where, TOP_KEYS)
    base = path.parent
    templates_dir = data.get("templates") or "templates"
    if not isinstance(templates_dir, str):
        raise InventoryError(
            f"{where}: templates: expected a directory path, got {_kind(templates_dir)}"
        )
    templates = (base / templates_dir).resolve()
    defaults = _level(
        _mapping(data.get("defaults"), f"{where}: defaults", LEVEL_KEYS), f"{where}: defaults", base
    )
    secret_settings = parse_settings(data.get("secrets"), f"{where}: secrets", base)
    url = _url_settings(_mapping(data.get("url"), f"{where}: url", URL_KEYS), base, f"{where}: url")
    raw_nodes = _mapping(data.get("nodes"), f"{where}: nodes")
    if not raw_nodes:
        raise InventoryError(f"{where}: no nodes defined (add a `nodes:` mapping)")
    groups: dict[str, tuple[str, ...]] = {}
    group_levels: dict[str, dict[str, Any]] = {}
    for gname, graw in _mapping(data.get("groups"), f"{where}: groups").items():
        gwhere = f"{where}: groups.{gname}"
        g = _mapping(graw, gwhere, GROUP_KEYS)
        members = g.get("members") or []
        if not isinstance(members, list):
            raise InventoryError(f"{gwhere}.members: expected a list of node names")
        for m in members:
            if not isinstance(m, str):
                raise InventoryError(f"{gwhere}.members: expected node names, got {_kind(m)}")
            if m not in raw_nodes:
                raise InventoryError(f"{gwhere}.members: unknown node {m!r}")
        if gname in raw_nodes:
            raise InventoryError(f"{gwhere}: a group may not share its name with a node")
        groups[gname] = tuple(str(m) for m in members)
        group_levels[gname] = _level(g, gwhere, base)
    nodes = {}
    for name, nraw in raw_nodes.items():
        nwhere = f"{where}: nodes.{name}"
        if not isinstance(name, str) or not name or name.startswith("-"):
            raise InventoryError(f"{nwhere}: node names must be non-empty strings")
        n = _mapping(nraw, nwhere, NODE_KEYS)
        address = n.get("address")
        if address is not None and (not isinstance(address, str) or not address.strip()):
            raise InventoryError(
                f"{nwhere}.address: expected a host name or IP address, got {_kind(address)}"
            )
        member_of = [g for g in groups if name in groups[g]]
        levels = [defaults] + [group_levels[g] for g in member_of] + [_level(n, nwhere, base)]
        node = _resolve_node(
            name, str(n.get("address") or name), member_of, levels, templates, base, ssh_config
        )
        if node.source == "url":
            if url.base is None:
                raise InventoryError(
                    f"{nwhere}: source is url but the inventory has no `url: {{base: ...}}`; "
                    "set url.base to the address the kubelets use to reach `spctl serve`"
                )
            problem = manifest_url.node_name_problem(name)
            if problem:
                raise InventoryError(f"{nwhere}: {problem}")
            node = replace(node, manifest_url=manifest_url.node_url(url.base, name))
        _check_files(node, nwhere)
        nodes[name] = replace(node, secrets=secret_settings)
    fleet = Fleet.of(nodes.values(), groups)
    return Inventory(
        path=path, nodes=nodes, groups=groups, url=url, secrets=secret_settings, fleet=fleet
    )


def _url_settings(raw: dict[str, Any], base_dir: Path, where: str) -> URLSettings:
    base = raw.get("base")
    if base is not None:
        problem = manifest_url.base_url_problem(str(base))
        if problem:
            raise InventoryError(f"{where}.base: {problem}")
        base = str(base)
    secret = Path(str(raw.get("secret_file") or manifest_url.DEFAULT_SECRET_FILE)).expanduser()
    listen = raw.get("listen")
    if listen is not None:
        try:
            manifest_url.parse_listen(str(listen))
        except ValueError as exc:
            raise InventoryError(f"{where}.listen: {exc}") from None
        listen = str(listen)
    return URLSettings(
        base=base,
        secret_file=secret if secret.is_absolute() else (base_dir / secret).resolve(),
        listen=listen,
    )


def _level(raw: dict[str, Any], where: str, base: Path) -> dict[str, Any]:
    """One precedence level, checked and normalised."""
    level: dict[str, Any] = {}
    for key in ("vars", "labels"):
        level[key] = _mapping(raw.get(key), f"{where}.{key}")
    for reserved in CONTEXT_NAMES:
        if reserved in level["vars"]:
            raise InventoryError(
                f"{where}.vars.{reserved}: `{reserved}` is a name every template already has "
                f"({_CONTEXT_MEANING[reserved]}); a variable of that name would clash with it (one "
                "would hide the other); rename the variable"
            )
    level["vars"] = normalise_vars(level["vars"], f"{where}.vars", base)
    for k, v in level["labels"].items():
        if isinstance(v, (dict, list)) or v is None:
            raise InventoryError(f"{where}.labels.{k}: expected a string, got {_kind(v)}")
    level["labels"] = {str(k): str(v) for k, v in level["labels"].items()}
    level["ssh"] = _ssh_level(_mapping(raw.get("ssh"), f"{where}.ssh", SSH_KEYS), f"{where}.ssh")
    profile = raw.get("profile")
    if profile is not None and profile not in PROFILES:
        raise InventoryError(
            f"{where}.profile: unknown profile {profile!r}; known: {', '.join(sorted(PROFILES))}"
        )
    level["profile"] = profile
    manifest_dir = raw.get("manifest_dir")
    if manifest_dir is not None:
        text = str(manifest_dir)
        if not text.startswith("/") or any(c.isspace() or c in "\"'$`\\" for c in text):
            raise InventoryError(
                f"{where}.manifest_dir: {text!r} must be an absolute path without spaces or quotes"
            )
        manifest_dir = text.rstrip("/") or "/"
    level["manifest_dir"] = manifest_dir
    source = raw.get("source")
    if source is not None and source not in SOURCES:
        raise InventoryError(f"{where}.source: {source!r} must be one of {', '.join(SOURCES)}")
    level["source"] = source
    pods = raw.get("pods") or []
    if not isinstance(pods, list):
        raise InventoryError(f"{where}.pods: expected a list")
    level["pods"] = []
    for i, entry in enumerate(pods):
        if isinstance(entry, str):
            entry = {"name": entry}
        entry = _mapping(entry, f"{where}.pods[{i}]", {"name", "template", "files"})
        name = entry.get("name")
        if not isinstance(name, str):
            raise InventoryError(f"{where}.pods[{i}]: a pod needs a name")
        template = entry.get("template")
        if template is not None and (not isinstance(template, str) or not template):
            raise InventoryError(
                f"{where}.pods[{i}].template: expected a file name, got {_kind(template)}"
            )
        problem = validate_pod_name(name)
        if problem:
            raise InventoryError(f"{where}.pods[{i}]: pod name {name!r}: {problem}")
        raw_files = entry.get("files") or []
        if not isinstance(raw_files, list):
            raise InventoryError(
                f"{where}.pods[{i}].files: expected a list of files ({{path: /etc/..., "
                f"template: ...}}), got {_kind(raw_files)}"
            )
        files = tuple(
            _file_entry(raw, f"{where}.pods[{i}] ({name}).files[{j}]", base)
            for j, raw in enumerate(raw_files)
        )
        level["pods"].append((name, entry.get("template") or f"{name}.yaml.j2", files))
    return level


def _file_entry(raw: Any, where: str, base: Path) -> dict[str, Any]:
    """One entry of a pod's ``files:``, checked on its own (``_check_files`` checks them
    against the node: its manifest directories and the node's other files)."""
    entry = _mapping(raw, where, FILE_KEYS)
    path = entry.get("path")
    if not isinstance(path, str) or not path:
        raise InventoryError(
            f"{where}.path: a file needs the absolute path it has on the node, got {_kind(path)}"
        )
    _check_file_path(path, f"{where}.path")
    kinds = [k for k in FILE_CONTENT_KEYS if entry.get(k) is not None]
    if len(kinds) != 1:
        found = f"it has {' and '.join(kinds)}" if kinds else "it has none"
        raise InventoryError(
            f"{where}: a file's content comes from exactly one of template, source or secret; "
            f"{found}"
        )
    kind = kinds[0]
    value = entry[kind]
    if kind == "secret":
        if not isinstance(value, dict) or not value:
            raise InventoryError(
                f"{where}.secret: expected a mapping that says where the secret is, got "
                f"{_kind(value)}"
            )
        # Checked now, its path made absolute against the inventory's directory.
        value = parse_ref(value, f"{where}.secret", base).as_dict()
    elif not isinstance(value, str) or not value.strip():
        raise InventoryError(f"{where}.{kind}: expected a file name, got {_kind(value)}")
    return {
        "path": path,
        "kind": kind,
        "value": value,
        "mode": _file_mode(entry.get("mode"), f"{where}.mode"),
        "owner": _file_owner(entry.get("owner"), f"{where}.owner"),
        "group": _file_owner(entry.get("group"), f"{where}.group"),
    }


def _check_file_path(path: str, where: str) -> None:
    if (
        not path.startswith("/")
        or path.startswith("//")
        or posixpath.normpath(path) != path
        or "\x00" in path
    ):
        raise InventoryError(
            f"{where}: {path!r} must be an absolute, normalised path (no '..', '.', '//' or "
            f"trailing '/'), e.g. {posixpath.normpath('/' + path.strip('/'))!r}"
        )
    if path == "/":
        raise InventoryError(f"{where}: '/' is a directory, not a file")
    for root in FORBIDDEN_ROOTS:
        if _under(path, root):
            raise InventoryError(
                f"{where}: {path} is under {root}, which is not a place for files (the "
                "kernel's or the devices' pseudo file system); put the file elsewhere"
            )
    if _under(path, STATE_DIR):
        raise InventoryError(
            f"{where}: {path} is under {STATE_DIR}, where spctl keeps its own state, lock and "
            "backups on the node; put the file elsewhere"
        )
    for profile in PROFILES.values():
        for directory in profile.known_dirs:
            if _under(path, directory):
                raise InventoryError(
                    f"{where}: {path} is in {directory}, a manifest directory ({profile.name}'s "
                    "default): the kubelet would parse it as a pod; put the file elsewhere "
                    "(e.g. under /etc/<pod>/)"
                )


def _under(path: str, directory: str) -> bool:
    directory = directory.rstrip("/") or "/"
    return path == directory or path.startswith(directory + "/") or directory == "/"


def _file_mode(value: Any, where: str) -> Optional[int]:
    """A permission mode from ``"0644"`` (octal text) or a YAML number (``0644`` is octal
    to YAML 1.1's safe loader), 0 to 0o7777."""
    if value is None:
        return None
    mode: Optional[int] = None
    if isinstance(value, str) and value.strip() and set(value.strip()) <= set("01234567"):
        mode = int(value.strip(), 8)
    elif isinstance(value, int) and not isinstance(value, bool):
        mode = value
    if mode is None or not 0 <= mode <= 0o7777:
        raise InventoryError(
            f'{where}: expected a permission mode in octal, quoted ("0644", "0600"), got '
            f"{_kind(value)}"
        )
    return mode


def _file_owner(value: Any, where: str) -> Optional[str]:
    """A user or group: a name, or a number (kept as text)."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 2**32 - 2:
        return str(value)
    if isinstance(value, str) and value.isdigit() and int(value) > 2**32 - 2:
        raise InventoryError(f"{where}: {value} is beyond 4294967294, the largest id there is")
    if isinstance(value, str) and value and not any(c.isspace() or c in ":/" for c in value):
        return value
    raise InventoryError(
        f"{where}: expected a user or group name, or a numeric id, got {_kind(value)}"
    )


def _file_refs(files: tuple[dict[str, Any], ...], templates: Path) -> tuple[FileRef, ...]:
    refs = []
    for f in files:
        file = None
        if f["kind"] != "secret":
            p = Path(f["value"]).expanduser()
            file = p if p.is_absolute() else templates / p
        refs.append(
            FileRef(
                path=f["path"],
                kind=f["kind"],
                file=file,
                secret=f["value"] if f["kind"] == "secret" else None,
                mode=f["mode"],
                owner=f["owner"],
                group=f["group"],
            )
        )
    return tuple(refs)


def _check_files(node: Node, where: str) -> None:
    """A node's pods' files against each other and the node's manifest directory: no path
    used twice, none in ``manifest_dir`` (the kubelet would parse it as a pod)."""
    seen: dict[str, str] = {}
    for pod in node.pods:
        for i, f in enumerate(pod.files):
            at = f"{where}: pod {pod.name}: files[{i}].path"
            if node.manifest_dir and _under(f.path, node.manifest_dir):
                raise InventoryError(
                    f"{at}: {f.path} is in the node's manifest_dir {node.manifest_dir}: the "
                    "kubelet would parse it as a pod; put the file elsewhere"
                )
            other = seen.get(f.path)
            if other is not None:
                same = "this pod" if other == pod.name else f"pod {other}"
                raise InventoryError(
                    f"{at}: {f.path} is also a file of {same} on this node; one path holds "
                    "one file: give one of them another path"
                )
            seen[f.path] = pod.name
            for path, owner_pod in seen.items():
                if path != f.path and (_under(path, f.path) or _under(f.path, path)):
                    raise InventoryError(
                        f"{at}: {f.path} and {path} (pod {owner_pod}) cannot both be files: "
                        "one is inside the other"
                    )


_CONTEXT_MEANING = {
    "node": "the node's name, address, labels, groups, profile and vars",
    "pod": "the pod's name",
    "groups": "every group's member names",
    "nodes": "every node's address, labels, groups and vars",
}


def _kind(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return f"a {'mapping' if isinstance(value, dict) else 'list'}"
    return f"{value!r} ({type(value).__name__})"


def _ssh_level(ssh: dict[str, Any], where: str) -> dict[str, Any]:
    """Each ssh field with its type checked, so that a wrong one is named here and not met
    later as an error deep inside a connection."""
    for key in ("user", "key", "known_hosts", "jump"):
        value = ssh.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise InventoryError(f"{where}.{key}: expected a string, got {_kind(value)}")
    port = ssh.get("port")
    if port is not None and (
        isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536
    ):
        raise InventoryError(f"{where}.port: expected a port number, got {_kind(port)}")
    sudo = ssh.get("sudo")
    if sudo is not None and not isinstance(sudo, bool):
        raise InventoryError(f"{where}.sudo: expected true or false, got {_kind(sudo)}")
    timeout = ssh.get("connect_timeout")
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not 0 < timeout <= 3600
    ):
        raise InventoryError(
            f"{where}.connect_timeout: expected seconds (more than 0, at most 3600), got "
            f"{_kind(timeout)}"
        )
    if ssh.get("jump"):
        _check_jump(ssh["jump"], f"{where}.jump")
    return ssh


def _check_jump(jump: str, where: str) -> None:
    _, _, hostport = jump.rpartition("@")
    host, _, port = hostport.partition(":")
    if not host or any(c.isspace() for c in jump):
        raise InventoryError(f"{where}: expected [user@]host[:port], got {jump!r}")
    if port and (not port.isdigit() or not 0 < int(port) < 65536):
        raise InventoryError(f"{where}: {port!r} is not a port number (in {jump!r})")


def _resolve_node(
    name: str,
    address: str,
    groups: list[str],
    levels: list[dict[str, Any]],
    templates: Path,
    base: Path,
    ssh_config: Optional[paramiko.SSHConfig],
) -> Node:
    merged: dict[str, Any] = {
        "vars": {},
        "labels": {},
        "ssh": {},
        "profile": None,
        "manifest_dir": None,
        "source": "file",
    }
    pods: dict[str, tuple[str, tuple[dict[str, Any], ...]]] = {}
    for level in levels:
        for key in ("vars", "labels", "ssh"):
            merged[key].update(level[key])
        for key in ("profile", "manifest_dir", "source"):
            if level[key] is not None:
                merged[key] = level[key]
        for pod_name, template, files in level["pods"]:
            pods[pod_name] = (template, files)
    ssh = merged["ssh"]
    if ssh_config is not None:
        address, ssh = _apply_ssh_config(ssh_config, address, ssh)
    settings = SSHSettings(
        user=ssh.get("user"),
        port=ssh.get("port"),
        key=ssh.get("key"),
        known_hosts=ssh.get("known_hosts"),
        jump=ssh.get("jump"),
        sudo=ssh.get("sudo"),
        connect_timeout=ssh.get("connect_timeout"),
    )
    settings = _absolute_paths(settings, base)
    refs = []
    for pod_name, (template, files) in pods.items():
        tpath = Path(template)
        refs.append(
            PodRef(
                pod_name,
                tpath if tpath.is_absolute() else (templates / tpath),
                _file_refs(files, templates),
            )
        )
    return Node(
        name=name,
        address=address,
        ssh=settings,
        labels=merged["labels"],
        vars=merged["vars"],
        groups=tuple(groups),
        profile=merged["profile"],
        manifest_dir=merged["manifest_dir"],
        pods=tuple(refs),
        source=merged["source"],
    )


def _absolute_paths(settings: SSHSettings, base: Path) -> SSHSettings:
    """Key and known_hosts paths in the inventory are relative to the inventory file."""

    def fix(p: Optional[str]) -> Optional[str]:
        if p is None or p.startswith(("~", "/")):
            return p
        return str((base / p).resolve())

    return SSHSettings(
        **{**vars(settings), "key": fix(settings.key), "known_hosts": fix(settings.known_hosts)}
    )


def _apply_ssh_config(
    config: paramiko.SSHConfig, address: str, ssh: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    found = config.lookup(address)
    ssh = dict(ssh)
    host = found.get("hostname", address)
    if "port" not in ssh and "port" in found:
        if not str(found["port"]).isdigit():
            raise InventoryError(
                f"~/.ssh/config: Port {found['port']!r} for {address} is not a port number"
            )
        ssh["port"] = int(found["port"])
    if "user" not in ssh and "user" in found:
        ssh["user"] = found["user"]
    if "key" not in ssh and found.get("identityfile"):
        ssh["key"] = found["identityfile"][0]
    if "known_hosts" not in ssh and found.get("userknownhostsfile"):
        ssh["known_hosts"] = found["userknownhostsfile"].split()[0]
    if "jump" not in ssh and found.get("proxyjump") and found["proxyjump"] != "none":
        ssh["jump"] = found["proxyjump"].split(",")[0]
    if ssh.get("jump"):
        ssh["jump"] = _resolve_jump(config, str(ssh["jump"]))
        _check_jump(ssh["jump"], f"the jump host of {address} (with ~/.ssh/config)")
    return host, ssh


def _resolve_jump(config: paramiko.SSHConfig, jump: str) -> str:
    """``[user@]alias[:port]`` with the alias's HostName, Port and User from ssh config."""
    user, _, hostport = jump.rpartition("@")
    alias, _, port = hostport.partition(":")
    found = config.lookup(alias)
    user = user or found.get("user", "")
    host = found.get("hostname", alias)
    port = port or found.get("port", "22")
    return f"{user + '@' if user else ''}{host}:{port}"


def _ssh_target(
    address: str, ssh: SSHSettings, host_key_policy: str, connect_timeout: Optional[float]
) -> SSHTarget:
    jump = None
    if ssh.jump:
        user, _, hostport = ssh.jump.rpartition("@")
        host, _, port = hostport.partition(":")
        jump = SSHTarget(
            host=host,
            port=int(port) if port else 22,
            user=user or ssh.user or "root",
            key_file=ssh.key,
            known_hosts=ssh.known_hosts,
            host_key_policy=host_key_policy,
            connect_timeout=connect_timeout or ssh.connect_timeout or DEFAULT_CONNECT_TIMEOUT,
        )
    return SSHTarget(
        host=address,
        port=ssh.port or 22,
        user=ssh.user or "root",
        key_file=ssh.key,
        known_hosts=ssh.known_hosts,
        jump=jump,
        host_key_policy=host_key_policy,
        connect_timeout=connect_timeout or ssh.connect_timeout or DEFAULT_CONNECT_TIMEOUT,
    )
