"""The kubelet's configuration changed as one transaction: back up, write, restart, wait for
health and for the change to be taken, or put every file back, restart again and report."""

import os

from ..protocol import flag_value
from ..system import AgentError
from ..system.files import atomic_write, encode_text, read_original, remove, sha256_bytes
from ..system.kubelet import running_kubelets, wait_healthy


def check_kubelet_files(change):
    for f in change["files"]:
        content = read_original(f["path"])[0]
        current_sha = sha256_bytes(content) if content is not None else None
        if current_sha != f["expected_sha256"]:
            raise AgentError("%s changed on the node since spctl read it; rerun" % f["path"])


def apply_kubelet(node, change, on_written=None, on_restarted=None, on_failure=None):
    """Write the kubelet's configuration files, restart it and wait for healthz; on
    failure put every file back, restart again and report. Returns {"restarted": True}.
    ``on_written`` and ``on_restarted`` are told when the files are written and when the
    restarted kubelet took the change (the journal records each phase). ``change`` is the
    request's, as ``protocol.messages.read_kubelet_change`` reads it."""
    import time

    unit = change["unit"]
    url = change["healthz_url"]
    timeout = change["timeout"]
    fs = node.fs
    # live path, its bytes before the change (None: absent), its mode
    originals = [(f["path"],) + read_original(f["path"]) for f in change["files"]]
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(node.clock.time()))
    for live, content, _mode in originals:
        if content is not None:
            backup = node.paths.kubelet_backup(stamp, live)
            try:
                fs.makedirs(os.path.dirname(backup), 0o700)
                atomic_write(backup, content, 0o600, fs)
            except OSError as exc:
                raise AgentError(
                    "cannot back up %s to %s: %s; nothing was changed"
                    % (live, backup, exc.strerror or exc)
                ) from None

    def restart():
        node.systemd.restart(unit, change["daemon_reload"])
        node.forget_runtime()  # its --container-runtime-endpoint may have changed too

    try:
        for f, (live, _content, mode) in zip(change["files"], originals):
            fs.makedirs(os.path.dirname(live))
            atomic_write(live, encode_text(f["content"]), f["mode"] or mode, fs)
        if on_written is not None:
            on_written()
        restart()
        if wait_healthy(node, unit, url, timeout):
            problem = kubelet_took_change(node, unit, url, change["flag"])
            if problem is None:
                problem = _watches(node, unit, change["expect_dir"])
            if problem is None:
                if on_restarted is not None:
                    on_restarted()
                return {"restarted": True}
        else:
            problem = (
                "the kubelet did not become healthy within %ds after the configuration change"
                % timeout
            )
    except Exception as exc:  # whatever went wrong, the previous configuration goes back
        problem = str(exc)
    # Roll back: the previous configuration, a restart, and a wait for it to be healthy again.
    try:
        if on_failure is not None:
            on_failure()  # what the caller changed with this configuration goes back first
        for live, content, mode in originals:
            if content is None:
                if os.path.lexists(live):
                    remove(live, fs)
            elif read_original(live)[0] != content:
                atomic_write(live, content, mode, fs)
        restart()
        recovered = wait_healthy(node, unit, url, timeout)
    except Exception as exc:
        problem += "; restoring failed too: %s" % exc
        recovered = False
    raise AgentError(
        "%s; previous configuration restored%s. See `journalctl -u %s` on the node"
        % (
            problem,
            " and the kubelet is healthy again"
            if recovered
            else ", but the kubelet is STILL NOT healthy",
            unit,
        )
    )


def kubelet_took_change(node, unit, url, flag):
    """None when the restarted kubelet stays up and runs with the new flag, else why not.

    A healthy kubelet is not enough: one that never read the edited file (a wrong profile,
    a unit that does not load that file) would run on without the change.
    """
    pid = node.systemd.show([unit]).get(unit, {}).get("MainPID", "0")
    node.clock.sleep(2)  # a kubelet that dies right after its first healthz answer is not healthy
    again = node.systemd.show([unit]).get(unit, {})
    if again.get("MainPID") != pid or again.get("ActiveState") != "active" or not node.healthz(url):
        return "the kubelet did not stay up after the configuration change"
    if not flag:
        return None
    name, value = flag
    seen = flag_value(again.get("cmdline") or [], name)
    if (seen or "").rstrip("/") == (value or "").rstrip("/") and (seen is None) == (value is None):
        return None
    expected = "%s=%s" % (name, value) if value is not None else "no %s" % name
    return (
        "the restarted kubelet runs with %s instead of %s: it did not read the edited file "
        "(is the node's profile right?)"
        % ("%s=%s" % (name, seen) if seen is not None else "no " + name, expected)
    )


def _watches(node, unit, expected):
    """None when the running kubelet watches ``expected`` (or cannot tell), else why not:
    the restart that completes a pending change has no flag of its own to check."""
    if not expected:
        return None
    units = node.systemd.show([unit])
    seen = running_kubelets(units, node.process_start).get(unit, {}).get("manifest_dir")
    if seen is None or seen.rstrip("/") == expected.rstrip("/"):
        return None
    return "the restarted kubelet watches %s instead of %s" % (seen, expected)
