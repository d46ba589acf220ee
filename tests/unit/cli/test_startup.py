"""`spctl --help` and a verb's --help load no heavy library: SSH, templates, schemas, the
Docker SDK and spctl's own core are imported by a command only when it runs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "paramiko",
    "jinja2",
    "jsonschema",
    "docker",
    "yaml",
    "spctl.desired",
    "spctl.verbs.deploy",
)

PROBE = """
import json, sys
from spctl_cli.main import main
sys.argv = ["spctl", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)))
"""


@pytest.mark.parametrize(
    "args", [["--help"], ["deploy", "--help"], ["remove", "--help"], ["status", "--help"]]
)
def test_help_imports_no_heavy_library(args: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True, text=True, check=True
    )
    loaded = json.loads(done.stdout.splitlines()[-1])
    assert "spctl_cli.commands.deploy" in loaded  # the verbs were registered
    assert [m for m in loaded if m in HEAVY or m.startswith(HEAVY)] == []
