"""How the kubelet stand-in reaches a node image (lab/images.py): its whole package under
/usr/lib/spctl-lab, two programs that run it, and a node image tag that changes whenever a
module of the package does."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

from spctl_lab import images


def test_every_module_of_the_package_and_both_programs_go_to_the_node() -> None:
    files = images.standin_files()
    modules = sorted(images.STANDIN_PACKAGE.rglob("*.py"))
    for path in modules:
        relative = path.relative_to(images.HERE).as_posix()
        assert files[f"{images.STANDIN_DIR}/{relative}"].content == path.read_text()
    programs = {p for p, f in files.items() if f.mode == 0o755 and not f.directory}
    assert programs == {
        "/usr/lib/spctl-lab/kubelet_standin.py",
        "/usr/lib/spctl-lab/standin_cri.py",
    }
    for name, (module, _what) in images.STANDIN_PROGRAMS.items():
        importlib.import_module(f"spctl_lab.standin.{module}").main  # noqa: B018 (it exists)
        assert f"from standin.{module} import main" in files[f"{images.STANDIN_DIR}/{name}"].content


def test_the_node_files_change_when_a_module_does(tmp_path, monkeypatch) -> None:
    copy = tmp_path / "lab" / "standin"
    shutil.copytree(images.STANDIN_PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(images, "HERE", copy.parent)
    monkeypatch.setattr(images, "STANDIN_PACKAGE", copy)
    before = images.tar_of(images.standin_files())
    assert images.tar_of(images.standin_files()) == before  # deterministic
    (copy / "kubelet.py").write_text((copy / "kubelet.py").read_text() + "\n# changed\n")
    assert images.tar_of(images.standin_files()) != before


def test_the_kubelet_program_runs_from_the_copied_package(tmp_path) -> None:
    """As on a node: the files written out, /usr/bin/kubelet a symlink to the program."""
    for path, spec in images.standin_files().items():
        target = tmp_path / path.lstrip("/")
        if spec.directory:
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(spec.content)
        target.chmod(spec.mode)
    kubelet = tmp_path / "kubelet"
    kubelet.symlink_to(tmp_path / "usr/lib/spctl-lab/kubelet_standin.py")
    done = subprocess.run(
        [sys.executable, "-I", str(kubelet), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (0, "Kubernetes v1.34.0-spctl-lab-standin\n")
    assert "stand-in" in "".join(Path(kubelet).read_text().splitlines(keepends=True)[:20])
