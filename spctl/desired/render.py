"""Rendering pod templates per node, and checking the result before any node is touched.

A template is Jinja2 with StrictUndefined (an undefined variable is an error, never an empty
string), rendered in a bounded sandbox (``sandbox``). Its context is the node's variables at the top level, plus
``node`` (name, address, labels, groups, profile, vars), ``pod`` (the pod's name), and the
read-only fleet view of the whole inventory, ``groups`` and ``nodes`` (``fleet``): every node
renders from the same inventory, so a change to a group re-renders every node whose templates
read it. A secret variable (``secrets``) may go into a pod's files only: a manifest template
that uses one is refused, before the secret is read. The output is parsed with the safe
loader, validated, and dumped canonically: the node receives exactly the text that was
checked.

A pod's files (``PodRef.files``) are rendered beside it: a ``template`` in the same sandbox
and context as the pod's template (a file that uses a secret variable is a secret file), a
``source`` read as it is, a ``secret`` resolved by ``spctl.desired.secrets``; each at most
``MAX_FILE_BYTES``. The manifest of a pod with files carries :data:`FILES_ANNOTATION`, the
digest of them all (``files_digest``): a change of a file is a change of the pod, which the
kubelet restarts (a new UID), spctl waits for and rolls back as any other.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

import jinja2
import jinja2.compiler
import jinja2.nodes
import jinja2.sandbox
from spctl_agent.protocol import MANIFEST_SUFFIX

from spctl.desired.fleet import Fleet
from spctl.desired.inventory import MAX_FILE_BYTES, FileRef, Node, PodRef
from spctl.desired.sandbox import FleetLookupError, environment, render_bounded
from spctl.desired.secrets import Secret, SecretRef, collecting, resolve, template_vars
from spctl.desired.validation.static_pod import check_unique_names, dangerous_settings, validate_pod
from spctl.desired.yamlio import ManifestError, dump_manifest, parse_manifest
from spctl.errors import TemplateError, ValidationError

#: The annotation of a pod with files: the digest of its files (``files_digest``).
FILES_ANNOTATION = "spctl.io/files-sha256"


@dataclass(frozen=True)
class DesiredFile:
    """One file of a pod as it should be on one node: its path, exact bytes and metadata.
    ``secret``: the bytes are never shown (only their sha256)."""

    path: str
    content: bytes = field(default=b"", repr=False)
    mode: int = 0o644
    owner: Optional[str] = None
    group: Optional[str] = None
    secret: bool = False
    #: What it is made from (the template or file; "secret"), for messages.
    origin: str = ""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def files_digest(files: tuple[DesiredFile, ...]) -> str:
    """The digest of a pod's files, over each one's (path, sha256, mode, owner, group) in
    path order: what the manifest's annotation holds."""
    rows = sorted([f.path, f.sha256, f.mode, f.owner, f.group] for f in files)
    text = json.dumps(rows, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class DesiredPod:
    """One pod as it should be on one node: its file name and exact content."""

    name: str
    template: str
    content: str
    # Settings that hand the node to the pod (validate.dangerous_settings), each naming
    # node, pod, template and field: warnings, or errors under --strict.
    warnings: tuple[str, ...] = ()
    #: The pod's files on the node, written with its manifest.
    files: tuple[DesiredFile, ...] = ()
    #: Warnings that stay warnings under --strict (a file no hostPath volume covers).
    notes: tuple[str, ...] = ()

    @property
    def file(self) -> str:
        return self.name + MANIFEST_SUFFIX

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content.encode()).hexdigest()


def context(node: Node, pod: str, fleet: Fleet) -> dict[str, Any]:
    """What a template of ``node`` sees. The node's vars are copied for each rendering, so a
    template that changes one of its own lists does not change the next pod's; no variable
    is named like one of the other keys (the inventory refuses it: CONTEXT_NAMES). A secret
    variable enters as a SecretVariable: read only when a template uses it, and each use
    recorded, or refused (``secrets.collecting``)."""
    own = template_vars(copy.deepcopy(dict(node.vars)), node.secrets)
    info = {
        "name": node.name,
        "address": node.address,
        "labels": dict(node.labels),
        "groups": list(node.groups),
        "profile": node.profile,
        "vars": dict(own),
    }
    return {**own, "node": info, "pod": {"name": pod}, **fleet.context()}


def render_text(node: Node, ref: PodRef, fleet: Fleet) -> str:
    where = f"node {node.name}, pod {ref.name}, template {ref.template}"
    if not ref.template.is_file():
        raise TemplateError(
            f"{where}: template file not found; create it or fix the pod's `template:`"
        )
    # A manifest is readable by every user of the node and the kubelet logs it.
    text, _ = _render(node, ref.name, ref.template, where, fleet, secrets_allowed=False)
    return text


def _render(
    node: Node, pod: str, path: Any, where: str, fleet: Fleet, secrets_allowed: bool
) -> tuple[str, tuple[Secret, ...]]:
    """``path`` (a template file) rendered for ``pod`` on ``node``, with the secret
    variables it used (refused unless ``secrets_allowed``); TemplateError naming ``where``
    and the line."""
    env = environment(str(path.parent))
    try:
        template = env.get_template(path.name)
        with collecting(where, allow=secrets_allowed) as used:
            text = render_bounded(template, context(node, pod, fleet))
        return text, used.secrets
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise TemplateError(
            f"{where}: line {line}: byte {exc.object[exc.start]:#04x} is not UTF-8; save the "
            "template as UTF-8 text"
        ) from None
    except OSError as exc:
        raise TemplateError(f"{where}: cannot read the template: {exc.strerror or exc}") from None
    except jinja2.sandbox.SecurityError as exc:
        raise TemplateError(f"{where}: refused: {exc}") from None
    except (MemoryError, RecursionError) as exc:
        raise TemplateError(
            f"{where}: the template needs too much {'memory' if isinstance(exc, MemoryError) else 'recursion'}"
        ) from None
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"{where}: line {exc.lineno}: {exc.message}") from None
    except FleetLookupError as exc:
        raise TemplateError(f"{where}: {exc.message}") from None
    except jinja2.UndefinedError as exc:
        raise TemplateError(
            f"{where}: {exc.message}; define it under `vars:` for the node, one of its groups or defaults"
        ) from None
    except jinja2.TemplateError as exc:
        raise TemplateError(f"{where}: {exc}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        # Python errors of expressions in the template ('a' + 1, 1/0, int('x'), x[5]).
        raise TemplateError(f"{where}: {type(exc).__name__}: {exc}") from None


def render_pod(node: Node, ref: PodRef, fleet: Fleet) -> DesiredPod:
    """Render, parse, validate and canonicalise one pod for one node, ``fleet`` being the
    view of the whole inventory (``Inventory.fleet``, not only the selected nodes)."""
    where = f"node {node.name}, pod {ref.name}, template {ref.template}"
    text = render_text(node, ref, fleet)
    try:
        doc = parse_manifest(text, source=where)
    except ManifestError as exc:
        raise ValidationError([str(exc)]) from None
    problems = [
        f"{where}: {p.field}: {p.message}" for p in validate_pod(doc, node_name=node.name.lower())
    ]
    raw_metadata = doc.get("metadata")
    metadata: dict[str, Any] = raw_metadata if isinstance(raw_metadata, dict) else {}
    name = metadata.get("name")
    if name is not None and name != ref.name:
        problems.append(
            f"{where}: metadata.name: is {name!r} but the inventory calls this pod {ref.name!r}; "
            "make them the same (the file on the node is named after the pod)"
        )
    files: list[DesiredFile] = []
    for i, file_ref in enumerate(ref.files):
        try:
            files.append(render_file(node, ref, i, file_ref, fleet))
        except TemplateError as exc:
            problems.append(str(exc))
    annotations = metadata.get("annotations")
    if isinstance(annotations, dict) and FILES_ANNOTATION in annotations:
        problems.append(
            f"{where}: metadata.annotations.{FILES_ANNOTATION}: spctl sets this annotation "
            "to the digest of the pod's files; remove it from the template"
        )
    if problems:
        raise ValidationError(problems)
    warnings = tuple(f"{where}: {p}" for p in dangerous_settings(doc))
    notes: tuple[str, ...] = ()
    if files:
        # A change of a file is a change of the pod: a new UID, a restart, the wait.
        if not isinstance(metadata.get("annotations"), dict):
            metadata["annotations"] = {}
        metadata["annotations"][FILES_ANNOTATION] = files_digest(tuple(files))
        notes = tuple(uncovered_files(where, doc, files))
    return DesiredPod(
        name=ref.name,
        template=str(ref.template),
        content=dump_manifest(doc),
        warnings=warnings,
        files=tuple(files),
        notes=notes,
    )


def uncovered_files(where: str, doc: Mapping[str, Any], files: list[DesiredFile]) -> list[str]:
    """A warning for each file no ``hostPath`` volume of the pod covers: the pod cannot
    read it (a mistake, or a file for the node itself)."""
    raw_spec = doc.get("spec")
    spec: Mapping[str, Any] = raw_spec if isinstance(raw_spec, dict) else {}
    paths = []
    for volume in spec.get("volumes") or []:
        host_path = volume.get("hostPath") if isinstance(volume, dict) else None
        if isinstance(host_path, dict) and isinstance(host_path.get("path"), str):
            paths.append(host_path["path"].rstrip("/") or "/")
    return [
        f"{where}: file {f.path}: no hostPath volume of the pod covers it, so the pod cannot "
        "read it; add a hostPath volume for it (or its directory)"
        for f in files
        if not any(f.path == p or f.path.startswith(p.rstrip("/") + "/") for p in paths)
    ]


def render_file(node: Node, ref: PodRef, index: int, file: FileRef, fleet: Fleet) -> DesiredFile:
    """One file of pod ``ref`` on ``node``: its bytes from its template (rendered as the
    pod's is), its source file or its secret; TemplateError naming node, pod, the file's
    index and what to do."""
    where = f"node {node.name}, pod {ref.name}, files[{index}] ({file.path})"
    secret = file.kind == "secret"
    if secret:
        content = secret_bytes(node, where, file)
        origin = "secret"
    else:
        assert file.file is not None
        origin = str(file.file)
        if not file.file.is_file():
            raise TemplateError(
                f"{where}: {file.kind} file {file.file} not found; create it or fix the "
                f"file's `{file.kind}:` (relative to the templates directory)"
            )
        if file.kind == "template":
            text, used = _render(
                node,
                ref.name,
                file.file,
                f"{where}, template {file.file}",
                fleet,
                secrets_allowed=True,
            )
            content, secret = text.encode(), bool(used)
        else:
            try:
                if file.file.stat().st_size > MAX_FILE_BYTES:
                    raise TemplateError(_too_large(where, file.file.stat().st_size))
                content = file.file.read_bytes()
            except OSError as exc:
                raise TemplateError(
                    f"{where}: cannot read {file.file}: {exc.strerror or exc}"
                ) from None
    if len(content) > MAX_FILE_BYTES:
        raise TemplateError(_too_large(where, len(content)))
    mode = file.mode if file.mode is not None else (0o600 if secret else 0o644)
    return DesiredFile(
        path=file.path,
        content=content,
        mode=mode,
        owner=file.owner,
        group=file.group,
        secret=secret,
        origin=origin,
    )


def _too_large(where: str, size: int) -> str:
    return (
        f"{where}: the file is {size} bytes, over spctl's limit of {MAX_FILE_BYTES} bytes "
        "(1 MiB) per file; a pod's files are configuration and certificates: ship large "
        "data another way (an image, a package)"
    )


def secret_bytes(node: Node, where: str, file: FileRef) -> bytes:
    """The bytes of a ``secret:`` file (``secrets.resolve``, with the node's age key
    settings); a bad-input error naming ``where`` when it cannot be had, never its bytes."""
    ((kind, name),) = dict(file.secret or {}).items()
    return resolve(SecretRef(kind, name), where, node.secrets).reveal()


def render_node(node: Node, fleet: Fleet, only: tuple[str, ...] = ()) -> list[DesiredPod]:
    """Every pod of ``node`` (or only those named), all problems reported together."""
    refs = [r for r in node.pods if not only or r.name in only]
    problems: list[str] = []
    pods: list[DesiredPod] = []
    for ref in refs:
        try:
            pods.append(render_pod(node, ref, fleet))
        except ValidationError as exc:
            problems.extend(exc.problems)
        except TemplateError as exc:
            problems.append(str(exc))
    names = [(p.name, p.template) for p in pods]
    problems += [f"node {node.name}: {d}" for d in check_unique_names(names)]
    if node.source == "url":
        problems += [
            f"node {node.name}, pod {p.name}: the pod has files, but the node is in source: "
            "url: files are delivered in directory mode; URL mode serves manifests only. "
            "Deliver this pod in directory mode (source: file) or drop its files"
            for p in pods
            if p.files
        ]
    if problems:
        raise ValidationError(problems)
    return pods


def dangerous_pods(rendered: dict[str, list[DesiredPod]], strict: bool = False) -> list[str]:
    """The warnings of every rendered pod; with ``strict``, a ValidationError instead."""
    warnings = [w for pods in rendered.values() for p in pods for w in p.warnings]
    if strict and warnings:
        raise ValidationError(
            [
                *warnings,
                "--strict: refusing pods that hand the node to the pod; nothing was touched",
            ]
        )
    # Files no hostPath covers: warnings even under --strict.
    return warnings + [n for pods in rendered.values() for p in pods for n in p.notes]


def render_all(
    nodes: list[Node], fleet: Fleet, only: tuple[str, ...] = ()
) -> dict[str, list[DesiredPod]]:
    """Render every selected node, each seeing ``fleet`` (the whole inventory's, whatever the
    selection); raise one ValidationError listing every problem."""
    problems: list[str] = []
    result: dict[str, list[DesiredPod]] = {}
    if only:
        known = {r.name for n in nodes for r in n.pods}
        for name in only:
            if name not in known:
                problems.append(
                    f"pod {name!r} is not assigned to any selected node; known pods: "
                    f"{', '.join(sorted(known)) or 'none'}"
                )
    for node in nodes:
        try:
            result[node.name] = render_node(node, fleet, only)
        except ValidationError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ValidationError(problems)
    return result
