"""The kubelet's static pod sources: the manifest path, re-listed and watched with inotify,
and the manifest URL, polled."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import stat
import struct
import threading
import time
import urllib.parse
import urllib.request
from typing import Dict, List, Optional

from .log import QuietLog, log
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

    def __init__(self, path: str, node: str) -> None:
        self.path = os.path.normpath(path)
        self.node = node
        self.pods: List[StaticPod] = []
        self.listed = False
        self.quiet = QuietLog()
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

    def relist(self, after_event: bool = False) -> List[StaticPod]:
        """Read every manifest again. On the periodic re-list a file that fails to parse is
        dropped, so its pod is killed. After an inotify event the kubelet only reports the
        error and keeps the pod it had; `after_event=True` does the same."""
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
                if after_event and path in self._by_file:
                    pods.append(self._by_file[path])
        self._by_file = {pod.origin: pod for pod in pods}
        self.pods = keep_last_definitions(pods)
        self.listed = True
        return self.pods


IN_MODIFY, IN_CLOSE_WRITE, IN_MOVED_FROM, IN_MOVED_TO = 0x2, 0x8, 0x40, 0x80
IN_CREATE, IN_DELETE, IN_DELETE_SELF, IN_MOVE_SELF = 0x100, 0x200, 0x400, 0x800
IN_IGNORED, IN_NONBLOCK, IN_CLOEXEC = 0x8000, 0o4000, 0o2000000
WATCH_MASK = IN_CREATE | IN_DELETE | IN_MODIFY | IN_MOVED_TO | IN_MOVED_FROM | IN_CLOSE_WRITE
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

    def wait(self, timeout: float) -> bool:
        """Sleep up to `timeout`; True as soon as something in the directory changed."""
        if self.fd < 0:
            time.sleep(timeout)
            return False
        readable, _, _ = select.select([self.fd], [], [], timeout)
        return bool(readable) and self._drain()

    def _drain(self) -> bool:
        changed, buf = False, b""
        while True:
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                return changed
            offset = 0
            while offset + 16 <= len(buf):
                _, mask, _, length = struct.unpack_from("iIII", buf, offset)
                name = buf[offset + 16 : offset + 16 + length].rstrip(b"\0")
                offset += 16 + length
                if mask & SELF_GONE:
                    if mask & IN_MOVE_SELF:  # a moved directory keeps its watch: drop it
                        self._libc.inotify_rm_watch(self.fd, self.wd)
                    self.wd, changed = -1, True
                elif name and not name.startswith(b"."):  # the kubelet ignores dotfiles here too
                    changed = True


class URLSource:
    """--manifest-url / staticPodURL, fetched in its own thread so that a slow server never
    stalls the sync loop. A failed fetch keeps the previous pods; an empty body drops them."""

    def __init__(self, url: str, headers: Dict[str, List[str]], node: str, period: float) -> None:
        self.url, self.headers, self.node, self.period = url, headers, node, period
        self.pods: List[StaticPod] = []  # replaced wholesale, never mutated
        self.listed = False  # after the first usable answer; until then no pod is killed
        self._last_body: Optional[bytes] = None

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
        with urllib.request.urlopen(request, timeout=URL_TIMEOUT) as response:  # noqa: S310 (checked)
            if response.status != 200:
                raise ValueError(f"{self.url}: {response.status} {response.reason}")
            body = response.read(MAX_MANIFEST_BYTES)
        # k8s.io/utils/io ReadAtMost: reading the whole limit is already an error.
        if len(body) >= MAX_MANIFEST_BYTES:
            raise ValueError(f"{self.url}: the read limit is reached")
        return body

    def fetch_once(self) -> None:
        try:
            body = self._get()
            if not body:
                # http.go sends an empty update but keeps s.data: the same non-empty body
                # served again later is skipped, so its pods do not come back.
                self.pods, self.listed = [], True
                raise ValueError(f"zero-length data received from {self.url}")
            if body == self._last_body:
                return
            self._last_body = body
            self.pods, ignored = drop_duplicates(pods_from_url_body(body, self.url, self.node))
            self.listed = True
            report_duplicates(ignored, "http", lambda _key, *args, **kv: log(*args, **kv))
        except Exception as exc:  # whatever the server sends, this thread must go on
            log("E", "http.go", "Unable to read config URL", url=self.url, err=exc)
