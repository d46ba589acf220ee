"""Where the tests find the tree, however deep the test file is: the repository's root and
the scenario files of tests/cases/."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CASES = REPO / "tests" / "cases"
