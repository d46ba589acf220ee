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
  without a change on the node; and ``err="network is not ready: container runtime network
  not ready: NetworkReady=false reason:NetworkPluginNotReady message:..."`` (kubelet.go
  SyncPod, for a pod that is not hostNetwork on a node without a CNI configuration).

Pods write into the kubelet's log too: a string value with a line break is written by klog
(k8s.io/klog/v2 internal/serialize/keyvalues.go, writeStringValue) as ``key=<``, then every
line of the value after a tab, then a line `` >`` (which more ``key=value`` pairs may follow
on the same line), and an exec probe's output (pkg/kubelet/prober/prober.go, "Probe failed"
... output=<...>) or a container's message is such a value. journald keeps every line as an
entry of its own. So only a line that starts in column 0 with klog's header, outside such a
block, from the kubelet's own process, is read as the kubelet's (``KlogLines``).

The journal is read with ``journalctl -o json`` (``Journal``), from where the last read
stopped (``--after-cursor``); ``KubeletLog`` keeps only the entries that the units' main
processes wrote to stdout/stderr (systemd.journal-fields(7): _TRANSPORT=stdout, _PID,
_SYSTEMD_UNIT) and keeps what it found between reads. A node without journald, or a unit
without lines, gives no reason: the wait goes on as before. rke2 runs the kubelet as a child
process that logs to its own file (<data-dir>/agent/logs/kubelet.log): its lines are not the
main process's and give no reason either.
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
# kubelet.go SyncPod: NetworkNotReadyErrorMsg, for a pod that is not hostNetwork while the
# runtime's NetworkReady is false (no CNI configuration); retried, never helped by a retry.
NETWORK_NOT_READY = "network is not ready"
# klog's header (klog.go, formatHeader): severity, mmdd hh:mm:ss.uuuuuu, the pid padded to 7
# characters, file:line, "] ", then the structured call's quoted message (printS:
# strconv.Quote(msg), always one line). Anchored at column 0: nothing may come before it.
_KLOG = re.compile(
    r'^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +(\d+) ([\w.-]+(?::\d+)?)\] "((?:[^"\\]|\\.)*)"(.*)$'
)
_FIELD = re.compile(r' (\w+)=("(?:[^"\\]|\\.)*"|\S+)')
# A line whose last value goes on over the next lines (writeStringValue: `key=<` + "\n").
_OPENS = re.compile(r" (\w+)=<$")
# journald ends an entry without a line break when the line was cut (LineMax=), at a NUL
# byte, or when another process wrote the rest (systemd.journal-fields(7), _LINE_BREAK=):
# the next entry of that stream goes on with the same line.
_CUT = ("line-max", "nul", "pid-change")


def _fields(text, fields):
    """Add the ``key=value`` pairs of ``text`` to ``fields``; the key of a value that goes on
    over the next lines (``key=<`` at the end), else None."""
    opened = _OPENS.search(text)
    if opened:
        text = text[: opened.start()]
    for key, raw in _FIELD.findall(text):
        if raw.startswith('"'):
            try:
                raw = json.loads(raw)
            except ValueError:
                raw = raw[1:-1]
        fields[key] = raw
    return opened.group(1) if opened else None


def _header(line):
    """(pid, source file, message, rest of the line) of a klog header line, else None."""
    match = _KLOG.match(line)
    if not match:
        return None
    try:
        message = json.loads('"%s"' % match.group(3))
    except ValueError:
        message = match.group(3)
    return match.group(1), match.group(2), message, match.group(4)


def parse_line(line):
    """(source file, message, {key: value}) of one complete klog structured line, else None.
    Leading blanks are not stripped: a klog line starts in column 0, and a value's lines are
    indented (see ``KlogLines`` for entries over several lines)."""
    header = _header(line.rstrip("\r\n"))
    if header is None:
        return None
    fields = {}
    _fields(header[3], fields)
    return header[1], header[2], fields


class KlogLines:
    """klog entries from one process's lines, in order, over as many ``feed`` calls as needed:
    a value's lines (``key=<``, tab-indented lines, `` >``) belong to their entry and are never
    read as entries of their own. ``pid``: the process's id as a string; a header with another
    pid is not this process's."""

    def __init__(self, pid=None):
        self.pid = pid
        self._entry = None  # (source, message, fields) of the entry whose value is open
        self._key = None  # the key of that value
        self._value = []
        self._cut = []  # the start of a line journald cut (_LINE_BREAK)

    def feed(self, line, line_break=None):
        """The entries this line completes: [(source file, message, {key: value})]."""
        if line_break in _CUT:
            self._cut.append(line)
            return []
        if self._cut:
            line = "".join(self._cut) + line
            self._cut = []
        line = line.rstrip("\r\n")
        if self._key is not None:
            if line.startswith("\t"):
                self._value.append(line[1:])
                return []
            if line.startswith(" >"):
                source, message, fields = self._entry
                fields[self._key] = "\n".join(self._value)
                return self._go_on(source, message, fields, line[2:])
            # klog writes a block whole; anything else means its end was lost (the process
            # died, the line was cut): that entry is incomplete and does not count.
            self._entry, self._key, self._value = None, None, []
        header = _header(line)
        if header is None or (self.pid is not None and header[0] != self.pid):
            return []
        return self._go_on(header[1], header[2], {}, header[3])

    def _go_on(self, source, message, fields, rest):
        key = _fields(rest, fields)
        if key is None:
            self._entry, self._key, self._value = None, None, []
            return [(source, message, fields)]
        self._entry, self._key, self._value = (source, message, fields), key, []
        return []


class FailureWatch:
    """Whether the kubelet said that this file or pod cannot run, over entries seen one by one.

    ``pod_name`` is the kubelet's name (``<pod>-<node>``); ``namespace`` None matches any;
    entries about the pod ``not_uid`` (the one being replaced) do not count."""

    def __init__(self, path, pod_name, namespace=None, not_uid=None):
        self.path = path
        self.pod_name = pod_name
        self.namespace = namespace
        self.not_uid = not_uid
        self.found = None
        self.backed_off = None

    @property
    def reason(self):
        """The kubelet's message, or None."""
        return self.found or self.backed_off

    def see(self, entry):
        _, message, fields = entry
        if message == FILE_REJECTED and fields.get("path") == self.path:
            self.found = "the kubelet rejected %s: %s" % (self.path, fields.get("err", ""))
        elif message == SYNC_ERROR or "reason" in fields:
            pod = fields.get("pod", "")
            ns, _, name = pod.rpartition("/")
            if name != self.pod_name or (self.namespace is not None and ns != self.namespace):
                return
            if self.not_uid and fields.get("podUID") == self.not_uid:
                return
            text = fields.get("err", "")
            if message == SYNC_ERROR and text.startswith(NETWORK_NOT_READY):
                self.found = "the kubelet cannot start %s: %s" % (pod, text)
                return
            reason = fields.get("reason") or next((r for r in IMAGE_REASONS if r in text), None)
            if reason in IMAGE_REASONS:
                if reason not in text:
                    text = "%s: %s" % (reason, text) if text else reason
                message = "the kubelet cannot start %s: %s" % (pod, text)
                # A back-off only repeats an earlier failure, which says why.
                if reason in BACK_OFF:
                    self.backed_off = message
                else:
                    self.found = message


def _relevant(entry):
    return entry[1] in (FILE_REJECTED, SYNC_ERROR) or "reason" in entry[2]


def failure(lines, path, pod_name, namespace=None, not_uid=None):
    """The kubelet's message that this file or pod cannot run, from its log lines (one
    process's, in order), or None."""
    entries = KlogLines()
    watch = FailureWatch(path, pod_name, namespace, not_uid)
    for line in lines:
        for entry in entries.feed(line):
            watch.see(entry)
    return watch.reason


def message_text(value):
    """A journal field from ``journalctl -o json`` as text, or None: journalctl gives a value
    that is not printable UTF-8 as an array of its bytes, a field that is there more than once
    as an array of its values (not a message we can read as one line), and one larger than
    4096 bytes as null unless --all (journalctl(1), json)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(b, int) and 0 <= b < 256 for b in value):
        return bytes(value).decode("utf-8", "replace")
    return None


def journal_entries(out):
    """The entries of ``journalctl -o json`` output (one JSON object a line); a last line
    without its line break (journalctl was stopped while writing it) is not one."""
    entries = []
    for raw in out.split(b"\n")[:-1]:
        try:
            entry = json.loads(raw.decode("utf-8"))
        except ValueError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def _run_journalctl(args, timeout):
    """(stdout, problem or None). A journalctl stopped at its timeout still gives what it wrote
    (Popen.communicate keeps it across TimeoutExpired)."""
    import subprocess

    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return out, "journalctl did not finish within %ds" % timeout
    if proc.returncode != 0:
        detail = err.decode("utf-8", "replace").strip().splitlines()
        return out, "journalctl exited with %d%s" % (
            proc.returncode,
            ": %s" % detail[-1] if detail else "",
        )
    return out, None


class Journal:
    """The units' journal entries, read on from where the last read stopped.

    The first read starts at ``since`` (epoch seconds); each entry carries its cursor
    (``__CURSOR``) and the next read starts after the last one read (``--after-cursor``), so
    every entry is read once however long the wait. ``run(args)`` gives (stdout bytes,
    problem or None); tests replace it."""

    def __init__(self, units, since, run=None, timeout=10.0):
        self.units = list(units)
        self.since = since
        self.cursor = None
        self.problem = None  # why the last read failed, or None
        self.missing = False  # no journalctl on this node: nothing to read, ever
        self._run = run or (lambda args: _run_journalctl(args, timeout))

    def args(self):
        # --all: without it journalctl gives fields over 4096 bytes as null (journalctl(1)).
        args = ["journalctl", "--no-pager", "-q", "--all", "-o", "json"]
        if self.cursor:
            args += ["--after-cursor", self.cursor]
        else:
            args += ["--since", "@%d" % int(self.since)]
        for unit in self.units:
            args += ["-u", unit]
        return args

    def read(self):
        """The entries written since the last read: [dict of journal fields].

        A read that fails (journalctl past its timeout, or exiting non-zero) gives the complete
        entries it printed, and the cursor stays after the last of them: the next read goes
        on from there, so an entry is late by one poll, never lost. While every read fails,
        no entry comes and the wait ends as it would without the journal (the pod's state, or
        the timeout); ``problem`` says why."""
        if self.missing:
            return []
        try:
            out, self.problem = self._run(self.args())
        except OSError as exc:
            self.missing = True
            self.problem = "journalctl: %s" % (exc.strerror or exc)
            return []
        entries = journal_entries(out)
        for entry in reversed(entries):
            if isinstance(entry.get("__CURSOR"), str):
                self.cursor = entry["__CURSOR"]
                break
        return entries


def unit_name(unit):
    """journald's name of a unit: ``kubelet`` is ``kubelet.service`` (_SYSTEMD_UNIT=)."""
    return unit if "." in unit else unit + ".service"


class KubeletLog:
    """What the kubelet said during one wait, read from its units' journal at each ``poll``.

    ``main_pids()`` gives {unit: main pid} (systemctl show's MainPID). An entry counts only
    when it came from a service's standard output or error (_TRANSPORT=stdout) and its _PID
    was the main pid of its unit (_SYSTEMD_UNIT) when read here: the kubelet itself, or the
    k3s process that runs it, never a helper process in the unit or another writer into its
    journal. Main pids are read after each journal read, so a kubelet restarted since the
    last poll is known before its entries are judged; one that lived less than a poll is not
    (its entries give no reason)."""

    def __init__(self, journal, main_pids):
        self.journal = journal
        self._main_pids = main_pids
        self._trusted = set()  # (unit, pid string)
        self._streams = {}  # (unit, pid string, stream id): KlogLines
        self._relevant = []  # the entries a FailureWatch may care about
        self._watches = {}
        self._learn_pids()

    def _learn_pids(self):
        try:
            pids = self._main_pids()
        except Exception:  # systemctl failing must not end the wait: the pids known so far count
            return
        for unit, pid in pids.items():
            if pid and str(pid) != "0":
                self._trusted.add((unit_name(unit), str(pid)))

    def poll(self):
        """Read the journal on; returns how many kubelet entries were new."""
        records = self.journal.read()
        if not records:
            return 0
        self._learn_pids()
        new = 0
        for record in records:
            if record.get("_TRANSPORT") != "stdout":
                continue
            key = (record.get("_SYSTEMD_UNIT"), record.get("_PID"))
            if key not in self._trusted:
                continue
            # klog writes to stderr; the process's stdout is another stream, whose lines
            # must not end or fill a block of stderr's.
            stream_key = key + (record.get("_STREAM_ID"),)
            stream = self._streams.get(stream_key)
            if stream is None:
                stream = self._streams[stream_key] = KlogLines(key[1])
            text = message_text(record.get("MESSAGE"))
            if text is None:
                # A line we cannot read may be a block's: what follows is not trusted
                # until the next header line.
                stream.feed("")
                continue
            line_break = record.get("_LINE_BREAK")
            for entry in stream.feed(text, line_break if isinstance(line_break, str) else None):
                new += 1
                if _relevant(entry):
                    self._relevant.append(entry)
                    for watch in self._watches.values():
                        watch.see(entry)
        return new

    def failure(self, path, pod_name, namespace=None, not_uid=None):
        """The kubelet's message that this file or pod cannot run, from every entry read so
        far, or None (see ``FailureWatch``)."""
        key = (path, pod_name, namespace, not_uid)
        watch = self._watches.get(key)
        if watch is None:
            watch = self._watches[key] = FailureWatch(path, pod_name, namespace, not_uid)
            for entry in self._relevant:
                watch.see(entry)
        return watch.reason
