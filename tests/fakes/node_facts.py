"""A node's facts from a plan case (tests/cases/plan/): what the agent would answer for the
node the case describes, read as ``verbs.read.read_facts`` reads them (the profiles' request,
then the follow-up the first answer asks for); a file or directory the case does not hold is
absent on the node."""

from __future__ import annotations

import fnmatch
import hashlib

import yaml
from spctl_agent.protocol.systemd_show import environment_file_paths

from spctl.facts import NodeFacts
from spctl.profiles import facts_request, follow_up


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def facts_from_case(case: dict) -> NodeFacts:
    dirs, owned, files = {}, {}, dict(case.get("files") or {})
    for directory, spec in (case.get("dirs") or {}).items():
        spec = dict(spec or {})
        owned_names = spec.pop("owned", [])
        # {file: what spctl wrote}: owned, recorded with that content's sha256 (the file
        # changed on the node since when it differs).
        written = spec.pop("written", {})
        entries = []
        for name, content in sorted(spec.items()):
            entries.append(
                {
                    "name": name,
                    "type": "file",
                    "size": len(content),
                    "sha256": _sha(content),
                    "pod_name": (yaml.safe_load(content) or {}).get("metadata", {}).get("name"),
                }
            )
            files[f"{directory}/{name}"] = content
            if name in owned_names or name in written:
                owned[f"{directory}/{name}"] = {
                    "pod": name.rsplit(".", 1)[0],
                    "sha256": _sha(written.get(name, content)),
                }
        dirs[directory] = {"exists": True, "entries": entries}
    for directory, why in (case.get("unsafe_dirs") or {}).items():
        dirs.setdefault(directory, {"exists": False, "entries": []})["unsafe"] = why
    # A pod's files on the node (``pod_files: {path: {content, mode, owner, group, type}}``;
    # null: absent) and those spctl wrote (``owned_files: {path: {pod, written}}``: recorded
    # with the sha256 of ``written``, the file's content when not given). Their text is
    # read as ``verbs.read`` asks (the files that are no secret).
    pod_files, owned_files = {}, {}
    for path, spec in (case.get("pod_files") or {}).items():
        if spec is None:
            pod_files[path] = {"exists": False}
            continue
        content = spec.get("content", "")
        pod_files[path] = {
            "exists": True,
            "type": spec.get("type", "file"),
            "sha256": _sha(content) if spec.get("type", "file") == "file" else None,
            "size": len(content),
            "mode": spec.get("mode", 0o644),
            "owner": spec.get("owner", "root"),
            "group": spec.get("group", "root"),
        }
        if spec.get("type", "file") == "file":
            files[path] = content
    for path, spec in (case.get("owned_files") or {}).items():
        written = spec.get(
            "written", ((case.get("pod_files") or {}).get(path) or {}).get("content")
        )
        owned_files[path] = {"pod": spec["pod"], "sha256": _sha(written or "")}
        if spec.get("secret"):
            owned_files[path]["secret"] = True  # the agent's record of a secret it wrote
    units = {}
    for name, props in (case.get("units") or {}).items():
        units[name] = {"LoadState": "loaded", "ActiveState": "active", **props}

    def answer(request: dict) -> NodeFacts:
        globs = {
            pattern: sorted(p for p in files if fnmatch.fnmatch(p, pattern))
            for pattern in request.get("read_globs", [])
        }
        # The agent lists the requested directories and those the running kubelet was
        # started with (``running_dirs`` in a case).
        listed = {
            d: dirs.get(d, {"exists": False, "entries": []})
            for d in [*request.get("manifest_dirs", []), *case.get("running_dirs", [])]
        }
        wanted = set(request.get("read", [])) | {p for paths in globs.values() for p in paths}
        wanted |= set(pod_files)
        for props in units.values():
            wanted |= set(environment_file_paths(props))
        read = {path: files.get(path) for path in wanted}  # None: not on the node
        read.update((p, t) for p, t in files.items() if p.rsplit("/", 1)[0] in listed)
        return NodeFacts.from_agent(
            {
                "hostname": case.get("hostname", "my-node1"),
                "os_release": case.get("os_release") or {},
                "files": read,
                "globs": globs,
                "units": units,
                "dirs": listed,
                "owned": owned,
                "runtime": case.get("runtime")
                or {"runtime": "docker", "pods": case.get("pods") or []},
                "healthz": True,
                "kubelets": case.get("kubelets") or {},
                "pod_files": pod_files,
                "owned_files": owned_files,
            }
        )

    request = facts_request()
    node_dir = (case.get("node") or {}).get("manifest_dir")
    if node_dir:
        request["manifest_dirs"] = [node_dir, *request["manifest_dirs"]]
    facts = answer(request)
    for _ in range(2):  # as verbs.read.read_facts
        extra = follow_up(facts, (case.get("node") or {}).get("profile"))
        if not extra:
            break
        for key, values in extra.items():
            request[key] = [*request.get(key, []), *values]
        facts = answer(request)
    return facts
