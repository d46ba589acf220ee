"""The journal record of one apply: every file it will change with its bytes before, the
ownership before, the kubelet's command line and directory before, and the pods running
before, all read before the first write (see ``journal`` for its shape)."""

from ..protocol import DEFAULT_HEALTHZ_URL
from ..system.files import encode_text, read_original
from .journal import file_entry


def journal_record(request, changes, kubelet_change, node, pods_now, waits):
    record = {
        "holder": request.get("holder", "spctl"),
        "node_name": request["node_name"],
        "timeout": float(request.get("timeout", 300)),
        "stable_for": float(request.get("stable_for", 5)),
        "files": [],
        "owned_before": {},
        "kubelet": None,
        "pods_before": [],
        # A change of source (directory <-> URL) is undone with the kubelet stopped.
        "switch": bool(request.get("switch") and kubelet_change),
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
            "healthz_url": kubelet_change.get("healthz_url") or DEFAULT_HEALTHZ_URL,
            "daemon_reload": bool(kubelet_change.get("daemon_reload")),
            "cmdline_before": props.get("cmdline"),
            "dir_before": kubelet_change.get("dir_before"),
            "dir_after": request.get("manifest_dir"),
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
