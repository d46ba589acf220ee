"""The kubelet's own reason, read from its log, when it rejects a file or cannot start a pod.

The kubelet logs with klog's structured format (``E1128 12:00:00.000000 42 file.go:123] "msg"
key="value" ...``) to stderr, which systemd's journal keeps for its unit. The lines that end a
wait at once:

- pkg/kubelet/config/file.go (extractFromDir / extractFromFile): ``"Could not process
  manifest file" path="<file>" err="..."`` (the file does not decode, or fails validation in
  config/common.go: "invalid pod: ..."); the pod of that file will not run.
- pkg/kubelet/pod_workers.go: ``"Error syncing pod, skipping" err="failed to \"StartContainer\"
  for \"<c>\" with ErrImagePull: ..." pod="<namespace>/<name>" podUID="<uid>"``, with the
  reasons of pkg/kubelet/images/types.go (ErrImagePull, ErrImageNeverPull, ImagePullBackOff,
  InvalidImageName, ErrImageInspect) and kuberuntime_container.go
  (CreateContainerConfigError): the kubelet retries these with back-off, but no retry helps
  without a change on the node.

Read with ``journalctl -u <unit> --since @<start> -o cat`` (the message only: klog's line).
A node without journald, or a unit without lines, gives no reason: the wait goes on as before.
"""

import json
import re

FILE_REJECTED = "Could not process manifest file"
SYNC_ERROR = "Error syncing pod, skipping"
IMAGE_REASONS = (
    "ErrImagePull",
    "ErrImageNeverPull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageInspect",
    "CreateContainerConfigError",
)
BACK_OFF = ("ImagePullBackOff",)
_KLOG = re.compile(r'^[IWEF]\d{4} [\d:.]+\s+\d+ ([\w.]+(?::\d+)?)\] "((?:[^"\\]|\\.)*)"(.*)$')
_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


def parse_line(line):
    """(source file, message, {key: value}) of a klog structured line, else None."""
    match = _KLOG.match(line.strip())
    if not match:
        return None
    fields = {}
    for key, raw in _FIELD.findall(match.group(3)):
        if raw.startswith('"'):
            try:
                raw = json.loads(raw)
            except ValueError:
                raw = raw[1:-1]
        fields[key] = raw
    try:
        message = json.loads('"%s"' % match.group(2))
    except ValueError:
        message = match.group(2)
    return match.group(1), message, fields


def failure(lines, path, pod_name, namespace=None, not_uid=None):
    """The kubelet's message that this file or pod cannot run, from its log lines, or None.

    ``pod_name`` is the kubelet's name (``<pod>-<node>``); ``namespace`` None matches any;
    lines about the pod ``not_uid`` (the one being replaced) do not count."""
    found = backed_off = None
    for line in lines:
        parsed = parse_line(line)
        if parsed is None:
            continue
        _, message, fields = parsed
        if message == FILE_REJECTED and fields.get("path") == path:
            found = "the kubelet rejected %s: %s" % (path, fields.get("err", ""))
        elif message == SYNC_ERROR or "reason" in fields:
            pod = fields.get("pod", "")
            ns, _, name = pod.rpartition("/")
            if name != pod_name or (namespace is not None and ns != namespace):
                continue
            if not_uid and fields.get("podUID") == not_uid:
                continue
            text = fields.get("err", "")
            reason = fields.get("reason") or next((r for r in IMAGE_REASONS if r in text), None)
            if reason in IMAGE_REASONS:
                if reason not in text:
                    text = "%s: %s" % (reason, text) if text else reason
                message = "the kubelet cannot start %s: %s" % (pod, text)
                # A back-off only repeats an earlier failure, which says why.
                if reason in BACK_OFF:
                    backed_off = message
                else:
                    found = message
    return found or backed_off


def read_journal(units, since, run=None, timeout=10.0):
    """The kubelet units' journal lines since ``since`` (epoch seconds), or [] when there is
    no journal to read."""
    import subprocess

    args = ["journalctl", "--no-pager", "-q", "-o", "cat", "--since", "@%d" % int(since)]
    for unit in units:
        args += ["-u", unit]
    if run is None:

        def run(args):
            proc = subprocess.Popen(
                args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
            )
            try:
                out, _ = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                return b""
            return out

    try:
        out = run(args)
    except OSError:
        return []
    return out.decode("utf-8", "replace").splitlines()
