"""The journal record of one apply: every file it will change with its bytes before (a
pod's files: with the path of their backup instead), the ownership before, the kubelet's command line and directory before, and the pods running
before, all read before the first write (see ``journal`` for its shape)."""

from ..system.files import encode_text, read_original
from .journal import file_entry
from .manifest_change import journal_pod_files


def journal_record(request, changes, kubelet_change, node, pods_now, waits):
    record = {
        "holder": request["holder"],
        "node_name": request["node_name"],
        "timeout": request["timeout"],
        "stable_for": request["stable_for"],
        "files": [],
        "owned_before": {},
        "kubelet": None,
        "pods_before": [],
        # A change of source (directory <-> URL) is undone with the kubelet stopped.
        "switch": bool(request["switch"] and kubelet_change),
    }
    pod_files = journal_pod_files(changes)
    if pod_files:
        record["pod_files"] = pod_files
        record["owned_files_before"] = {
            f.path: f.was_owned for change in changes for f in change.files
        }
    for change in changes:
        record["files"] += change.journal_files()
        record["owned_before"][change.path] = change.was_owned
        if change.from_path:
            record["owned_before"][change.from_path] = change.from_owned
    if kubelet_change:
        unit = kubelet_change["unit"]
        for f in kubelet_change["files"]:
            before, mode = read_original(f["path"])
            record["files"].append(
                file_entry(f["path"], "kubelet", before, mode, encode_text(f["content"]))
            )
        props = node.systemd.show([unit]).get(unit, {})
        record["kubelet"] = {
            "unit": unit,
            "healthz_url": kubelet_change["healthz_url"],
            "daemon_reload": kubelet_change["daemon_reload"],
            "cmdline_before": props.get("cmdline"),
            "dir_before": kubelet_change["dir_before"],
            "dir_after": request["manifest_dir"],
        }
    seen = set()
    for change in list(changes) + list(waits):
        pod = change.find(pods_now)
        if pod and pod["phase"] == "Running" and change.name not in seen:
            seen.add(change.name)
            record["pods_before"].append(
                {
                    "name": change.name,
                    "pod": pod["pod"],
                    "namespace": pod["namespace"],
                    "uid": pod["uid"],
                }
            )
    return record
