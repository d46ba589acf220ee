"""`spctl lab` without the lab's extra (the docker SDK): a message that says how to install
it, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

from spctl_cli.commands.lab import LAB_PROFILES
from spctl_lab.layouts import PROFILES

BLOCK_DOCKER = (
    "import sys\n"
    "class Block:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name == 'docker' or name.startswith('docker.'):\n"
    "            raise ModuleNotFoundError(\"No module named 'docker'\", name='docker')\n"
    "sys.meta_path.insert(0, Block())\n"
    "from spctl_cli.main import main\n"
    "sys.argv = ['spctl'] + sys.argv[1:]\n"
    "sys.exit(main())\n"
)


def test_lab_without_the_docker_sdk_says_how_to_install_it(tmp_path) -> None:
    for args in (["lab", "status"], ["lab", "down"], ["lab", "up"]):
        done = subprocess.run(
            [sys.executable, "-c", BLOCK_DOCKER, *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            # A lab of its own name: should the SDK not be blocked, `lab down` must not reach
            # the lab the lab tests run beside this one.
            env={**os.environ, "SPCTL_LAB_NAME": "spctl-unit-no-sdk"},
        )
        assert done.returncode != 0, args
        assert "Traceback" not in done.stderr, done.stderr
        assert "pip install 'spctl[lab]'" in done.stderr, done.stderr
        assert "docker is not installed" in done.stderr, done.stderr


def test_lab_up_offers_every_lab_profile() -> None:
    assert LAB_PROFILES == PROFILES
