"""The agent's file steps (agent/system/files.py) as root in directories others may reach:
atomic writes, only regular files opened, reads capped, temporary names that cannot be
guessed or pre-created, manifest directories others can write refused; SHA-256 as hashlib's."""

from __future__ import annotations

import hashlib
import os

import pytest
from spctl_agent.system import files
from spctl_agent.system.files import atomic_write, sha256_bytes

from tests.fakes.agent_node import FailingFileSystem


def test_atomic_write_leaves_no_temporary_and_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "m" / "web.yaml"
    target.parent.mkdir()
    atomic_write(str(target), b"one")
    assert target.read_bytes() == b"one" and os.listdir(target.parent) == ["web.yaml"]
    with pytest.raises(OSError):
        atomic_write(str(target), b"two", fs=FailingFileSystem("fsync", str(target)))
    assert target.read_bytes() == b"one" and os.listdir(target.parent) == ["web.yaml"]


def test_sha256_as_hashlib():
    assert sha256_bytes(b"static pod") == hashlib.sha256(b"static pod").hexdigest()


WEB = b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n"


def test_reads_refuse_what_is_not_a_regular_file_and_stop_past_the_limit(tmp_path, no_hang):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link").symlink_to("/dev/zero")
    (tmp_path / "big").write_bytes(b"x" * (files.MAX_READ + 100))
    with pytest.raises(files.NotRegularFile) as fifo:
        files.read_bytes(str(tmp_path / "fifo"))
    assert fifo.value.kind == "fifo"
    with pytest.raises(files.NotRegularFile) as link:
        files.read_bytes(str(tmp_path / "link"))
    assert link.value.kind == "symlink"
    with pytest.raises(files.NotRegularFile):  # followed, a device is still not a file
        files.read_file(str(tmp_path / "link"), follow=True)
    with pytest.raises(files.TooLarge):
        files.read_bytes(str(tmp_path / "big"))
    assert files.read_text(str(tmp_path / "fifo")) is None
    assert files.read_bytes(str(tmp_path / "absent")) is None


def test_temporary_files_cannot_be_predicted_or_planted(tmp_path):
    live = str(tmp_path / "web.yaml")
    names = {files.temporary_path(live) for _ in range(50)}
    assert len(names) == 50 and all(files.is_temporary(os.path.basename(n)) for n in names)
    victim = tmp_path / "victim"
    victim.write_bytes(b"root's file\n")
    planted = tmp_path / "planted"
    planted.symlink_to(victim)
    with pytest.raises(FileExistsError):  # O_EXCL: not through a planted link
        files.REAL.create(str(planted), 0o644)
    assert victim.read_bytes() == b"root's file\n"
    old = os.umask(0o077)
    try:
        files.atomic_write(live, WEB, 0o644)
    finally:
        os.umask(old)
    assert (tmp_path / "web.yaml").stat().st_mode & 0o777 == 0o644  # fchmod, not umask


def test_tmp_itself_is_refused_sticky_bit_or_not():
    problem = files.unsafe_directory("/tmp/pods")
    assert problem is not None and problem.startswith("/tmp is owned by root with mode 1777")
