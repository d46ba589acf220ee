"""The kubelet's own reason, read from its log, when it rejects a file or cannot start a pod.

The kubelet writes its log to stderr, which systemd's journal keeps for its unit, in one of two
formats, both read here:

- klog's structured text, the default (``E1128 12:00:00.000000 42 file.go:123] "msg"
  key="value" ...``);
- component-base's JSON (``--logging-format=json``, ``logging.format: json``;
  k8s.io/component-base/logs/json/json.go): one object a line, ``ts`` (a number: epoch
  milliseconds), ``caller`` ("config/file.go:187"), ``msg``, ``v`` (a number, on info lines
  only), then the call's keys in order and, for an error, ``err`` last. A pod (klog.KObj) is
  an object ``{"name": ..., "namespace": ...}`` there, ``"<namespace>/<name>"`` in text; it
  is read here as the text gives it.

The messages that end a wait at once:

- pkg/kubelet/config/file.go, the periodic re-list (extractFromDir, every fileCheckFrequency,
  20 s by default): ``"Could not process manifest file" err="..." path="<file>"`` (the file
  does not decode, or fails validation in config/common.go: "invalid pod: ...").
- the same rejection seen through inotify (file_linux.go consumeWatchEvent, logged by file.go
  run): ``"Unable to process watch event" err="can't process config file \"<file>\": ..."``,
  with no path key: the path is in the error, quoted as Go's %q quotes it.
- pkg/kubelet/pod_workers.go: ``"Error syncing pod, skipping" err="failed to \"StartContainer\"
  for \"<c>\" with ErrImagePull: ..." pod="<namespace>/<name>" podUID="<uid>"``, with the
  reasons of pkg/kubelet/images/types.go (ErrImagePull, ErrImageNeverPull, ImagePullBackOff,
  InvalidImageName, ErrImageInspect), of kuberuntime_container.go (CreateContainerConfigError,
  CreateContainerError) and of container/sync_result.go (RunContainerError: the runtime could
  not start the process, e.g. a command that is not in the image); and ``err="network is not
  ready: ..."`` (kubelet.go SyncPod: the runtime reports no pod network, for a pod without
  hostNetwork). The kubelet retries these, but no retry helps without a change on the node.
- pkg/kubelet/config/http.go (run): ``"Failed to read pods from URL" err="..."`` at info
  level, for the manifest URL as a whole (no pod, no URL key). Only a body that was fetched
  and refused counts (a fetch that failed is retried); the kubelet logs a body once (the same
  body again is skipped and logs ``"Successfully read pods from URL"``, as does any later
  success), the first three failures in a row only (then at V(4), unseen).

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
WATCH_REJECTED = "Unable to process watch event"
WATCH_ERROR_PREFIX = "can't process config file "
SYNC_ERROR = "Error syncing pod, skipping"
NETWORK_NOT_READY = "network is not ready"
URL_FAILED = "Failed to read pods from URL"
URL_RECOVERED = "Successfully read pods from URL"
START_REASONS = (
    "ErrImagePull",
    "ErrImageNeverPull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageInspect",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
)
BACK_OFF = ("ImagePullBackOff",)
# kuberuntime_manager.go doBackOff: a container that exited again within its restart
# back-off; pod_workers.go logs the sync error as ``failed to "StartContainer" for "<c>"
# with CrashLoopBackOff: "back-off 20s restarting failed container=<c> pod=<name>_<ns>(<uid>)"``.
# Not a failure by itself: the wait compares the back-off with the time it has left.
CRASH_LOOP = "CrashLoopBackOff"
_CRASH_LOOP = re.compile(
    r"back-off ((?:\d+h)?(?:\d+m)?(?:\d+(?:\.\d+)?s)?) restarting failed container=(\S+)"
)
# http.go: fmt.Errorf("%v: %v", s.url, resp.Status), and Status is "404 Not Found".
_STATUS_ERROR = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S*: \d{3}( |$)")
# The keys of component-base's JSON lines that are not the call's own (json.go: TimeKey,
# CallerKey, MessageKey, zapr's LogInfoLevel "v"; NameKey "logger" for a named logger).
_JSON_META = ("ts", "caller", "msg", "v", "logger")
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
#: The characters of one value kept (an ``err``, a block): a body the kubelet could not
#: decode is quoted whole in its error (http.go: "received '%v', but couldn't parse", up to
#: its 10 MiB), and every URL pod's result would carry it.
MAX_VALUE = 4096


def _bounded(value):
    """``value`` cut to ``MAX_VALUE`` characters, marked with "…" when cut."""
    if isinstance(value, str) and len(value) > MAX_VALUE:
        return value[:MAX_VALUE] + "\u2026"
    return value


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
        fields[key] = _bounded(raw)
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


def _json_value(value):
    """A JSON line's value as the text format gives it: an object reference
    ({"name", "namespace"}, klog's ObjectRef.MarshalLog) as "<namespace>/<name>", a string
    as itself, anything else as its JSON."""
    if isinstance(value, dict) and isinstance(value.get("name"), str) and len(value) <= 2:
        namespace = value.get("namespace")
        if namespace is None or isinstance(namespace, str):
            return "%s/%s" % (namespace, value["name"]) if namespace else value["name"]
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def parse_json_line(line):
    """(caller, message, {key: value}) of one component-base JSON line, else None. Its
    ``ts`` and ``v`` are numbers and ``caller`` and ``msg`` strings (json.go), or it is not
    one; a value that goes over several lines is escaped within the one line."""
    line = line.rstrip("\r\n")
    if not line.startswith("{"):
        return None
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    ts, caller, msg = obj.get("ts"), obj.get("caller", ""), obj.get("msg")
    if isinstance(ts, bool) or not isinstance(ts, (int, float)):
        return None
    if not isinstance(msg, str) or not isinstance(caller, str):
        return None
    level = obj.get("v")
    if level is not None and (isinstance(level, bool) or not isinstance(level, int)):
        return None
    fields = dict((k, _bounded(_json_value(v))) for k, v in obj.items() if k not in _JSON_META)
    return caller, msg, fields


def parse_line(line):
    """(source file, message, {key: value}) of one complete klog structured line or
    component-base JSON line, else None. Leading blanks are not stripped: a klog line starts
    in column 0, and a value's lines are indented (see ``KlogLines`` for entries over
    several lines)."""
    entry = parse_json_line(line)
    if entry is not None:
        return entry
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
    pid is not this process's. A component-base JSON line is an entry of its own (it carries
    no pid: the stream's process is the one trusted, see ``KubeletLog``); but once the
    process has written a klog header it logs in text, and a JSON line after it is text a
    pod got to the start of a line (a journald cut), not the kubelet's. A value keeps at most
    ``MAX_VALUE`` characters."""

    def __init__(self, pid=None):
        self.pid = pid
        self._entry = None  # (source, message, fields) of the entry whose value is open
        self._key = None  # the key of that value
        self._value = []
        self._size = 0  # the characters of _value
        self._cut = []  # the start of a line journald cut (_LINE_BREAK)
        self._text = False  # a klog header of this process was seen: it logs in text

    def feed(self, line, line_break=None):
        """The entries this line completes: [(source file, message, {key: value})]."""
        if line_break in _CUT:
            if sum(len(c) for c in self._cut) < MAX_VALUE * 4:
                self._cut.append(line)
            return []
        if self._cut:
            line = "".join(self._cut) + line
            self._cut = []
        line = line.rstrip("\r\n")
        if self._key is not None:
            if line.startswith("\t"):
                if self._size <= MAX_VALUE:
                    self._value.append(line[1:])
                    self._size += len(line)
                return []
            if line.startswith(" >"):
                source, message, fields = self._entry
                fields[self._key] = _bounded("\n".join(self._value))
                return self._go_on(source, message, fields, line[2:])
            # klog writes a block whole; anything else means its end was lost (the process
            # died, the line was cut): that entry is incomplete and does not count.
            self._entry, self._key, self._value = None, None, []
        entry = None if self._text else parse_json_line(line)
        if entry is not None:
            return [entry]
        header = _header(line)
        if header is None or (self.pid is not None and header[0] != self.pid):
            return []
        self._text = self.pid is not None  # a known process: it logs in text from now on
        return self._go_on(header[1], header[2], {}, header[3])

    def _go_on(self, source, message, fields, rest):
        key = _fields(rest, fields)
        if key is None:
            self._entry, self._key, self._value = None, None, []
            return [(source, message, fields)]
        self._entry, self._key, self._value = (source, message, fields), key, []
        self._size = 0
        return []


def go_quote(text):
    """``text`` as Go's %q (strconv.Quote) writes it, for the characters a path holds."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append("\\x%02x" % ord(ch))
        else:
            out.append(ch)
    return '"%s"' % "".join(out)


def fetch_failed(err):
    """Whether a "Failed to read pods from URL" error is the fetch's, not the body's
    (http.go extractFromURL): the request (net/http's url.Error, ``Get "<url>": ...``), a
    status other than 200 (``<url>: 404 Not Found``), or an empty body. Those are retried
    and say nothing of the pods; any other error refused the body it read."""
    if err.startswith('Get "') or err.startswith("zero-length data received from "):
        return True
    return _STATUS_ERROR.match(err) is not None


class FailureWatch:
    """Whether the kubelet said that this file or pod cannot run, over entries seen one by one.

    ``path`` is the manifest file (None: the pod has no file); ``pod_name`` is the kubelet's
    name (``<pod>-<node>``); ``namespace`` None matches any; entries about the pod ``not_uid``
    (the one being replaced) do not count. ``url``: the pod comes from the manifest URL,
    whose rejection of the body it served counts until a later success logged before the
    wait. ``since`` (epoch seconds, the wait's start): entries older than that count for
    the URL only (a wait for the URL's pods reads from before the kubelet fetched them, see
    wait.URL_LOOK_BACK)."""

    def __init__(self, path, pod_name, namespace=None, not_uid=None, url=False, since=None):
        self.path = path
        self.since = since
        self.pod_name = pod_name
        self.namespace = namespace
        self.not_uid = not_uid
        self.url = url
        self.found = None
        self.backed_off = None
        self.crash_loop = None  # (container, back-off seconds, the kubelet's text), the last
        self.url_rejected = None
        self._watch_prefix = WATCH_ERROR_PREFIX + go_quote(path) + ": " if path else None

    @property
    def reason(self):
        """The kubelet's message, or None."""
        return self.found or self.url_rejected or self.backed_off

    def see(self, entry, when=None):
        """``when``: the entry's time (epoch seconds), None when unknown."""
        _, message, fields = entry
        err = fields.get("err", "")
        url_entry = message.startswith(URL_FAILED) or message == URL_RECOVERED
        if not url_entry and None not in (when, self.since) and when < self.since:
            return
        if message == FILE_REJECTED:
            if self.path and fields.get("path") == self.path:
                self.found = "the kubelet rejected %s: %s" % (self.path, err)
        elif message == WATCH_REJECTED:
            if self._watch_prefix and err.startswith(self._watch_prefix):
                self.found = "the kubelet rejected %s: %s" % (
                    self.path,
                    err[len(self._watch_prefix) :],
                )
        elif message.startswith(URL_FAILED):  # also "... Dropping verbosity ... to V(4)"
            if self.url and not fetch_failed(err):
                self.url_rejected = "the kubelet rejected the pods of its manifest URL: %s" % err
        elif message == URL_RECOVERED:
            # http.go logs it at the next good read, and a refused body fetched again is
            # one (extractFromURL returns early when the bytes did not change): so during
            # the wait, when the kubelet has the body waited for, it says nothing of that
            # body. Only an older one clears an earlier body's rejection.
            if None in (when, self.since) or when < self.since:
                self.url_rejected = None
        elif message == SYNC_ERROR or "reason" in fields:
            self._sync_error(fields, err)

    def _sync_error(self, fields, text):
        pod = fields.get("pod", "")
        ns, _, name = pod.rpartition("/")
        if name != self.pod_name or (self.namespace is not None and ns != self.namespace):
            return
        if self.not_uid and fields.get("podUID") == self.not_uid:
            return
        # One sync error may name several containers (kuberuntime's SyncPod aggregates
        # their results: "[failed to ... with CrashLoopBackOff: ..., failed to ... with
        # ErrImagePull: ...]"), so a back-off does not hide another container's reason.
        if CRASH_LOOP in text:
            self.crash_loop = crash_loop_backoff(text) or self.crash_loop
        if text.startswith(NETWORK_NOT_READY):
            self.found = "the kubelet cannot start %s: %s" % (pod, text)
            return
        reason = fields.get("reason") or next((r for r in START_REASONS if r in text), None)
        if reason in START_REASONS:
            if reason not in text:
                text = "%s: %s" % (reason, text) if text else reason
            message = "the kubelet cannot start %s: %s" % (pod, text)
            # A back-off only repeats an earlier failure, which says why.
            if reason in BACK_OFF:
                self.backed_off = message
            else:
                self.found = message


def crash_loop_backoff(text):
    """(container, back-off seconds, text) of a CrashLoopBackOff sync error, else None; the
    back-off as Go's time.Duration writes it (10s, 1m20s, 5m0s)."""
    match = _CRASH_LOOP.search(text)
    if not match or not match.group(1):
        return None
    seconds = 0.0
    for amount, unit in re.findall(r"([\d.]+)([hms])", match.group(1)):
        seconds += float(amount) * {"h": 3600, "m": 60, "s": 1}[unit]
    return match.group(2), seconds, text


def _relevant(entry):
    message = entry[1]
    return (
        message in (FILE_REJECTED, WATCH_REJECTED, SYNC_ERROR, URL_RECOVERED)
        or message.startswith(URL_FAILED)
        or "reason" in entry[2]
    )


def failure(lines, path, pod_name, namespace=None, not_uid=None, url=False):
    """The kubelet's message that this file or pod cannot run, from its log lines (one
    process's, in order, klog text or JSON), or None."""
    entries = KlogLines()
    watch = FailureWatch(path, pod_name, namespace, not_uid, url)
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


def _realtime(record):
    """When journald received the entry (__REALTIME_TIMESTAMP, microseconds as a string),
    in epoch seconds, or None."""
    value = record.get("__REALTIME_TIMESTAMP")
    if isinstance(value, str) and value.isdigit():
        return int(value) / 1e6
    return None


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
        # Entries older than this (epoch seconds) count for the manifest URL only; None: all.
        self.counts_from = None
        self._main_pids = main_pids
        self._trusted = set()  # (unit, pid string)
        self._streams = {}  # (unit, pid string, stream id): KlogLines
        self._relevant = []  # (entry, when) a FailureWatch may care about
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
            when = _realtime(record)
            for entry in stream.feed(text, line_break if isinstance(line_break, str) else None):
                new += 1
                if _relevant(entry):
                    self._relevant.append((entry, when))
                    for watch in self._watches.values():
                        watch.see(entry, when)
        return new

    def failure(self, path, pod_name, namespace=None, not_uid=None, url=False):
        """The kubelet's message that this file or pod cannot run, from every entry read so
        far, or None (see ``FailureWatch``)."""
        return self._watch(path, pod_name, namespace, not_uid, url).reason

    def crash_loop(self, path, pod_name, namespace=None, not_uid=None):
        """The pod's last CrashLoopBackOff: (container, back-off seconds, text), or None."""
        return self._watch(path, pod_name, namespace, not_uid).crash_loop

    def _watch(self, path, pod_name, namespace, not_uid, url=False):
        key = (path, pod_name, namespace, not_uid, url)
        watch = self._watches.get(key)
        if watch is None:
            watch = self._watches[key] = FailureWatch(
                path, pod_name, namespace, not_uid, url, self.counts_from
            )
            for entry, when in self._relevant:
                watch.see(entry, when)
        return watch
