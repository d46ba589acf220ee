"""What the CLI tests share: the spctl command of this environment and the smallest pod
template that renders and validates."""

from __future__ import annotations

import sys
from pathlib import Path

SPCTL = str(Path(sys.executable).parent / "spctl")

POD_TEMPLATE = """\
apiVersion: v1
kind: Pod
metadata:
  name: {{ pod.name }}
spec:
  containers:
    - name: web
      image: {{ image }}
"""
