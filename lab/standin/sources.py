"""The kubelet's static pod sources: the manifest path, re-listed and watched with inotify,
and the manifest URL, polled.

The manifest path (pkg/kubelet/config/file.go, file_linux.go): a re-list every
fileCheckFrequency reads every file and replaces the set, a file that fails dropped and logged
as "Could not process manifest file"; between re-lists each inotify event is handled for its
own file (consumeWatchEvent): a created or changed file is read, and when that fails the pod
it had stays and file.go logs "Unable to process watch event" with err "can't process config
file %q: ..."; a removed or renamed one drops its pod."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import stat
import struct
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Dict, List, Optional, Tuple

from .log import QuietLog, go_quote, log
from .manifests import (
    MAX_MANIFEST_BYTES,
    StaticPod,
    drop_duplicates,
    keep_last_definitions,
    pods_from_url_body,
    read_manifest_file,
    report_duplicates,
)

URL_TIMEOUT = 10.0  # the kubelet's HTTP source client timeout


class FileSource:
    """--pod-manifest-path / staticPodPath: a directory of manifests, or one manifest file."""

    def __init__(self, path: str, node: str, period: float = 20.0) -> None:
        self.path = os.path.normpath(path)
        self.node = node
        self.pods: List[StaticPod] = []
        self.listed = False
        # The kubelet logs a broken file at every re-list; a lab re-listing faster than the
        # real 20 s logs it once a minute, so that it does not flood the journal.
        self.quiet = QuietLog(60.0 if period < 20.0 else 0.0)
        self._by_file: Dict[str, StaticPod] = {}

    def manifest_files(self) -> List[str]:
        """What the kubelet reads: entries not starting with a dot, regular files only."""
        say = self.quiet.say
        try:
            mode = os.stat(self.path).st_mode
        except FileNotFoundError:
            err = "path does not exist, ignoring"
            say(self.path, "E", "file.go", "Unable to read config path", path=self.path, err=err)
            return []
        if stat.S_ISREG(mode):
            return [self.path]
        files = []
        for name in sorted(os.listdir(self.path)):
            path = os.path.join(self.path, name)
            if name.startswith("."):
                continue
            try:
                mode = os.stat(path).st_mode  # follows symlinks, as Go's os.Stat does
            except OSError as exc:
                say(path, "E", "file.go", "Could not get metadata", path=path, err=exc)
                continue
            if stat.S_ISREG(mode):
                files.append(path)
            elif stat.S_ISDIR(mode):
                message = "Provided manifest path is a directory, not recursing into manifest path"
                say(path, "E", "file.go", message, path=path)
            else:
                say(path, "E", "file.go", "Manifest path is not a directory or file", path=path)
        return files

    def relist(self) -> List[StaticPod]:
        """The periodic re-list (listConfig): read every manifest again. A file that fails
        to parse is dropped, so its pod is killed."""
        pods = []
        for path in self.manifest_files():
            try:
                pods.append(read_manifest_file(path, self.node))
                self.quiet.clear(path)
            except FileNotFoundError:
                continue  # gone since the listing; the kubelet says nothing either
            except Exception as exc:  # whatever is in a file, it must not stop the others
                self.quiet.say(
                    path, "E", "file.go", "Could not process manifest file", path=path, err=exc
                )
        self._by_file = {pod.origin: pod for pod in pods}
        self.pods = keep_last_definitions(pods)
        self.listed = True
        return self.pods

    def consume(self, events: List[Tuple[str, int]]) -> List[StaticPod]:
        """inotify events, one file each (file_linux.go produceWatchEvent and
        consumeWatchEvent): created or changed (IN_CREATE, IN_MOVED_TO, IN_MODIFY,
        IN_ATTRIB), the file is read and its pod replaces the one of that name; when that
        fails, nothing changes and the error is logged, once per event. Removed or renamed
        (IN_DELETE, IN_MOVED_FROM): its pod goes."""
        for name, mask in events:
            path = os.path.join(self.path, name)
            if mask & (IN_DELETE | IN_MOVED_FROM):
                self._by_file.pop(path, None)
                continue
            try:
                mode = os.stat(path).st_mode
            except OSError:
                mode = 0  # gone already: reading it says so
            if not (stat.S_ISREG(mode) or mode == 0):
                # consumeWatchEvent reads the file whatever its type: a directory gives
                # "is a directory", and a FIFO's open blocks the kubelet's file source
                # until someone writes to it. The stand-in does not hang: it skips it.
                if stat.S_ISDIR(mode):
                    err = f"can't process config file {go_quote(path)}: read {path}: is a directory"
                    log("E", "file.go", "Unable to process watch event", err=err)
                continue
            try:
                pod = read_manifest_file(path, self.node)
            except Exception as exc:  # whatever is in a file, it must not stop the others
                if isinstance(exc, FileNotFoundError):
                    exc = OSError(f"open {path}: no such file or directory")
                err = f"can't process config file {go_quote(path)}: {exc}"
                log("E", "file.go", "Unable to process watch event", err=err)
                continue
            # The store is keyed by namespace/name: the file read last wins.
            self._by_file.pop(path, None)
            self._by_file[path] = pod
        self.pods = keep_last_definitions(list(self._by_file.values()))
        return self.pods


IN_MODIFY, IN_ATTRIB, IN_MOVED_FROM, IN_MOVED_TO = 0x2, 0x4, 0x40, 0x80
IN_CREATE, IN_DELETE, IN_DELETE_SELF, IN_MOVE_SELF = 0x100, 0x200, 0x400, 0x800
IN_IGNORED, IN_NONBLOCK, IN_CLOEXEC = 0x8000, 0o4000, 0o2000000
# fsnotify's inotify mask: Create, Write, Chmod, Remove and Rename events.
WATCH_MASK = IN_CREATE | IN_DELETE | IN_MODIFY | IN_ATTRIB | IN_MOVED_TO | IN_MOVED_FROM
SELF_GONE = IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED


class DirectoryWatch:
    """inotify on the manifest directory, through libc: a change is seen within a second or
    so, as with the kubelet's fsnotify watch. Only an accelerator: without inotify the
    periodic re-list still sees every change."""

    def __init__(self, path: str) -> None:
        self.path = os.path.normpath(path)
        self.fd = self.wd = -1
        try:
            self._libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            self.fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        except (OSError, AttributeError) as exc:
            log("W", "file_linux.go", "inotify unavailable, polling only", err=exc)
            return
        if self.fd < 0:
            err = os.strerror(ctypes.get_errno())
            log("W", "file_linux.go", "inotify unavailable, polling only", err=err)

    def arm(self) -> None:
        """(Re)arm the watch: the directory may appear, vanish or be replaced at any time."""
        if self.fd >= 0 and self.wd < 0 and os.path.isdir(self.path):
            mask = WATCH_MASK | SELF_GONE
            self.wd = self._libc.inotify_add_watch(self.fd, self.path.encode(), mask)

    def wait(self, timeout: float) -> List[Tuple[str, int]]:
        """Sleep up to `timeout`; as soon as something in the directory changed, its events:
        [(file name, inotify mask)], dotfiles left out as the kubelet leaves them out."""
        if self.fd < 0:
            time.sleep(timeout)
            return []
        readable, _, _ = select.select([self.fd], [], [], timeout)
        return self._drain() if readable else []

    def _drain(self) -> List[Tuple[str, int]]:
        events: List[Tuple[str, int]] = []
        while True:
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                return events
            offset = 0
            while offset + 16 <= len(buf):
                _, mask, _, length = struct.unpack_from("iIII", buf, offset)
                name = buf[offset + 16 : offset + 16 + length].rstrip(b"\0")
                offset += 16 + length
                if mask & SELF_GONE:
                    if mask & IN_MOVE_SELF:  # a moved directory keeps its watch: drop it
                        self._libc.inotify_rm_watch(self.fd, self.wd)
                    self.wd = -1
                elif name and not name.startswith(b".") and mask & WATCH_MASK:
                    events.append((os.fsdecode(name), mask))


class URLSource:
    """--manifest-url / staticPodURL, fetched in its own thread so that a slow server never
    stalls the sync loop. A failed fetch keeps the previous pods; an empty body drops them."""

    def __init__(self, url: str, headers: Dict[str, List[str]], node: str, period: float) -> None:
        self.url, self.headers, self.node, self.period = url, headers, node, period
        self.pods: List[StaticPod] = []  # replaced wholesale, never mutated
        self.listed = False  # after the first usable answer; until then no pod is killed
        self._last_body: Optional[bytes] = None
        self.failure_logs = 0  # http.go's failureLogs: failures in a row

    def start(self) -> None:
        threading.Thread(target=self._run, name="url-source", daemon=True).start()

    def _run(self) -> None:
        while True:
            self.fetch_once()
            time.sleep(max(self.period, 0.1))

    def _get(self) -> bytes:
        if urllib.parse.urlsplit(self.url).scheme not in ("http", "https"):
            raise ValueError(f"unsupported URL scheme: {self.url}")
        # Repeated values are joined, which HTTP defines as equal to repeating the header.
        headers = {key: ", ".join(values) for key, values in self.headers.items()}
        request = urllib.request.Request(self.url, headers=headers)  # noqa: S310 (checked)
        # The errors in Go's words (http.go extractFromURL): net/http's url.Error for the
        # request, "<url>: <status>" for a status other than 200.
        try:
            with urllib.request.urlopen(request, timeout=URL_TIMEOUT) as response:  # noqa: S310 (checked)
                if response.status != 200:
                    raise ValueError(f"{self.url}: {response.status} {response.reason}")
                body = response.read(MAX_MANIFEST_BYTES)
        except urllib.error.HTTPError as exc:
            raise ValueError(f"{self.url}: {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            raise ValueError(f"Get {go_quote(self.url)}: {exc.reason}") from None
        except OSError as exc:  # a timeout while reading, a reset connection
            raise ValueError(f"Get {go_quote(self.url)}: {exc}") from None
        # k8s.io/utils/io ReadAtMost: reading the whole limit is already an error.
        if len(body) >= MAX_MANIFEST_BYTES:
            raise ValueError("the read limit is reached")
        return body

    def fetch_once(self) -> None:
        """One poll, logged as http.go run() logs it: a failure at info level, the first
        three in a row only (the fourth says the rest go to V(4), which the stand-in does
        not write), then "Successfully read pods from URL" at the next good read. A body
        is read once: the same body again is a good read that changes nothing."""
        try:
            self._extract()
        except Exception as exc:  # whatever the server sends, this thread must go on
            if self.failure_logs < 3:
                log("I", "http.go", "Failed to read pods from URL", err=exc)
            elif self.failure_logs == 3:
                message = "Failed to read pods from URL. Dropping verbosity of this message to V(4)"
                log("I", "http.go", message, err=exc)
            self.failure_logs += 1
            return
        if self.failure_logs > 0:
            log("I", "http.go", "Successfully read pods from URL")
            self.failure_logs = 0

    def _extract(self) -> None:
        body = self._get()
        if not body:
            # http.go sends an empty update but keeps s.data: the same non-empty body
            # served again later is skipped, so its pods do not come back.
            self.pods, self.listed = [], True
            raise ValueError(f"zero-length data received from {self.url}")
        if body == self._last_body:
            return
        self._last_body = body  # before decoding: a refused body is not read again
        self.pods, ignored = drop_duplicates(pods_from_url_body(body, self.url, self.node))
        self.listed = True
        report_duplicates(ignored, "http", lambda _key, *args, **kv: log(*args, **kv))
