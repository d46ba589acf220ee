"""``spctl import``: read a pod on nodes, decide the template and the inventory change, write.

Three steps, each its own function, so the CLI and the tests run the same code:

1. :func:`read_pod_manifest` reads, over the agent's facts call, where the node keeps its
   manifests (as ``deploy`` would decide) and POD's manifest there. ``call`` is the agent's
   ``call``; tests pass a function that answers as the agent does.
2. :func:`plan_import` is pure: from what was read, the inventory and the options, the
   template (``spctl.verbs.import_pod.synthesize.synthesize``) and the new inventory text
   (``spctl.desired.inventory_edit.add_pod``). It then checks the result the way the next deploy will
   use it: the updated inventory is resolved, the template rendered for each node by
   ``spctl.desired.render.render_pod`` and planned by ``spctl.plan.directory.plan_deploy`` against the node's
   facts; every node's step must be ``adopt`` (the file already holds this pod: no pod
   changes). Anything else refuses the import.
3. :func:`apply_import` writes the template, then the inventory, each atomically (the
   template is put back when the inventory cannot be written).
"""

from __future__ import annotations

import difflib
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional

from spctl_agent.protocol import MANIFEST_SUFFIX

from spctl import profiles
from spctl.desired.inventory import Inventory, Node, PodRef, _build
from spctl.desired.inventory_edit import add_pod, write_atomic
from spctl.desired.pod_identity import same_pod
from spctl.desired.render import render_pod
from spctl.desired.yamlio import ManifestError, parse_manifest
from spctl.errors import SpctlError
from spctl.facts import NodeFacts
from spctl.plan.directory import choose_dir, plan_deploy
from spctl.verbs.import_pod.synthesize import Imported, ImportRefused, NodeManifest, synthesize
from spctl.verbs.read import facts_request
from spctl.verbs.session import read_node
from spctl.verbs.settings import Settings

AgentCall = Callable[[dict[str, Any]], Mapping[str, Any]]
TEMPLATE_SUFFIX = ".yaml.j2"


@dataclass(frozen=True)
class Found:
    """What one node holds: its manifest directory, POD's manifest there (None: absent), and
    the facts the next deploy's plan is checked against."""

    node: str
    directory: str
    manifest: Optional[NodeManifest]
    facts: NodeFacts


def read_pod_manifest(node: Node, pod: str, call: AgentCall) -> Found:
    """Find pod ``pod`` in the node's manifest directory as spctl resolves it (the inventory's
    ``manifest_dir``, else the kubelet's, else the profile's default): ``POD.yaml``, else the
    file whose ``metadata.name`` is ``pod``.

    The agent reads ``POD.yaml`` in every manifest directory with its facts; a second call
    reads the directory's other files only when that one is absent.
    """
    facts = NodeFacts.from_agent(call(facts_request(node, [pod])))
    profile = profiles.detect(facts, node.profile)
    directory = choose_dir(node, profile, facts)
    path = f"{directory}/{pod}{MANIFEST_SUFFIX}"
    text = facts.file(path)
    if text is not None:
        return Found(node.name, directory, NodeManifest(node.name, path, text), facts)
    # The agent guesses each file's pod name without a YAML parser; the files whose name it
    # could not guess are read too, and parsed here.
    candidates = [
        f"{directory}/{e.name}"
        for e in facts.dirs.get(directory) or ()
        if e.kubelet_reads and e.pod_name in (pod, None)
    ]
    if candidates:
        more = NodeFacts.from_agent(call(facts_request(node, [pod], candidates)))
        for candidate in candidates:
            content = more.file(candidate)
            if content is None:
                continue
            try:
                doc = parse_manifest(content, source=f"{node.name}:{candidate}")
            except ManifestError:
                continue
            metadata = doc.get("metadata")
            if isinstance(metadata, dict) and metadata.get("name") == pod:
                return Found(
                    node.name, directory, NodeManifest(node.name, candidate, content), facts
                )
    return Found(node.name, directory, None, facts)


def check_found(pod: str, found: Sequence[Found]) -> list[NodeManifest]:
    """Every node must have the pod, each in ``POD.yaml``; refuse otherwise."""
    missing = [f for f in found if f.manifest is None]
    if missing:
        have = [f.node for f in found if f.manifest is not None]
        where = "; ".join(f"{f.node}: {f.directory}" for f in missing)
        raise ImportRefused(
            f"pod {pod!r} is not on {', '.join(f.node for f in missing)} (looked in {where}); "
            f"it is on {', '.join(have) or 'none of the selected nodes'}. Select only the nodes "
            "that run it"
        )
    manifests = [f.manifest for f in found if f.manifest is not None]
    moved = [m for m in manifests if not m.path.endswith(f"/{pod}{MANIFEST_SUFFIX}")]
    if moved:
        first = moved[0]
        directory = first.path.rsplit("/", 1)[0]
        raise ImportRefused(
            f"pod {pod!r} is defined by {', '.join(f'{m.node}:{m.path}' for m in moved)}, not "
            f"{pod}{MANIFEST_SUFFIX}; spctl keeps a pod in <name>{MANIFEST_SUFFIX}, and the kubelet's UID "
            "for a static pod includes its file's path (pkg/kubelet/config/common.go), so "
            "taking this one over would restart it. When a restart is acceptable, rename it on "
            f"the node (mv {first.path} {directory}/{pod}{MANIFEST_SUFFIX}) and import again"
        )
    return manifests


@dataclass(frozen=True)
class ImportPlan:
    imported: Imported
    template_path: Path
    inventory_path: Path
    inventory_before: str
    inventory_after: str
    warnings: tuple[str, ...] = ()

    def inventory_diff(self) -> str:
        name = str(self.inventory_path)
        return "".join(
            difflib.unified_diff(
                self.inventory_before.splitlines(keepends=True),
                self.inventory_after.splitlines(keepends=True),
                fromfile=name,
                tofile=name,
            )
        )


def templates_dir(inventory_path: Path, text: str) -> Path:
    """The inventory's templates directory, by the rule of ``spctl.desired.inventory``."""
    data = parse_manifest(text, source=str(inventory_path))
    return (inventory_path.parent / str(data.get("templates") or "templates")).resolve()


def template_target(
    inventory_path: Path,
    inventory_text: str,
    pod: str,
    template_dir: Optional[Path] = None,
    force: bool = False,
) -> Path:
    """Where the template goes; refused when a file is there already, unless ``force``."""
    directory = (template_dir or templates_dir(inventory_path, inventory_text)).resolve()
    path = directory / f"{pod}{TEMPLATE_SUFFIX}"
    if path.exists() and not force:
        raise ImportRefused(
            f"{path} already exists; spctl import does not overwrite a template (pass --force "
            "to replace it, or --template-dir to write it elsewhere)"
        )
    return path


def fetch_pod_manifest(node: Node, pod: str, settings: Settings) -> Found:
    """:func:`read_pod_manifest` over the node's SSH connection (once more on a new one
    when it drops: ``session.read_node``)."""
    return read_node(node, settings, lambda agent: read_pod_manifest(node, pod, agent.call))


def plan_import(
    inventory: Inventory,
    inventory_text: str,
    pod: str,
    found: Sequence[Found],
    *,
    group: Optional[str] = None,
    template_dir: Optional[Path] = None,
    var_prefix: Optional[str] = None,
    force: bool = False,
) -> ImportPlan:
    """Decide the template and the inventory change, and check that the next deploy adopts
    every node's file without changing its pod. Pure: reads and writes nothing."""
    default_dir = templates_dir(inventory.path, inventory_text)
    template_path = template_target(inventory.path, inventory_text, pod, template_dir, force)
    directory = template_path.parent
    manifests = check_found(pod, found)
    imported = synthesize(pod, manifests, var_prefix)
    template_entry: Optional[str] = None
    if directory != default_dir:
        # Relative to the templates directory, as the inventory resolves it, so that the
        # inventory and its templates can move together.
        template_entry = os.path.relpath(template_path, default_dir)
    node_names = [f.node for f in found]
    node_vars = {n: {v.name: v.values[n] for v in imported.variables} for n in node_names}
    after = add_pod(
        inventory_text,
        pod,
        nodes=node_names,
        group=group,
        template=template_entry,
        node_vars=node_vars,
        source=str(inventory.path),
    )
    plan = ImportPlan(imported, template_path, inventory.path, inventory_text, after)
    return replace(plan, warnings=tuple(_check_next_deploy(plan, found)))


def _check_next_deploy(plan: ImportPlan, found: Sequence[Found]) -> list[str]:
    """Resolve the updated inventory, render the template for every node as deploy does and
    plan that deploy against the node's facts: each node must adopt its file as it is."""
    pod = plan.imported.pod
    data = parse_manifest(plan.inventory_after, source=str(plan.inventory_path))
    updated = _build(plan.inventory_path, data, None)
    warnings: list[str] = []
    with tempfile.TemporaryDirectory(prefix="spctl-import-") as tmp:
        path = Path(tmp) / f"{pod}{TEMPLATE_SUFFIX}"
        path.write_text(plan.imported.template)
        for f in found:
            node = updated.nodes[f.node]
            if not any(r.name == pod for r in node.pods):
                raise ImportRefused(f"{f.node}: the updated inventory does not assign {pod!r}")
            try:
                desired = render_pod(node, PodRef(pod, path), updated.fleet)
            except SpctlError as exc:
                raise ImportRefused(
                    f"{f.node}: the imported template does not render: {exc}"
                ) from None
            assert f.manifest is not None  # check_found refused absent pods
            if not same_pod(desired.content, f.manifest.text):
                raise ImportRefused(
                    f"{f.node}: the imported template renders another pod than {f.manifest.path}"
                )
            try:
                deploy = plan_deploy(node, [desired], f.facts)
            except SpctlError as exc:
                warnings.append(f"{f.node}: the next deploy would stop: {exc}")
                continue
            step = next(s for s in deploy.pods if s.name == pod)
            if step.action not in ("adopt", "unchanged"):
                raise ImportRefused(
                    f"{f.node}: the next deploy would {step.action} {pod!r} ({step.reason}), "
                    "not adopt it as it is"
                )
    return warnings


def apply_import(plan: ImportPlan) -> None:
    """Write the template, then the inventory; each atomically (temporary file, rename).
    When the inventory cannot be written, the template is put back as it was (removed, or
    its previous text under ``--force``): a failed import leaves nothing behind."""
    path = plan.template_path
    made = [d for d in (path.parent, *path.parent.parents) if not d.exists()]
    before = path.read_text(encoding="utf-8") if path.exists() else None
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, plan.imported.template)
    try:
        write_atomic(plan.inventory_path, plan.inventory_after)
    except BaseException:
        if before is None:
            path.unlink(missing_ok=True)
            for directory in made:  # deepest first; only what this import created
                directory.rmdir()
        else:
            write_atomic(path, before)
        raise
