"""The URL-mode site and a running spctl serve for it, for the serve and URL source tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from spctl.serve.server import PodServer
from tests.fakes.url_site import write_site


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return write_site(tmp_path)


@pytest.fixture
def server(site: Path):
    srv = PodServer(site / "inv.yaml", "127.0.0.1:0")
    host, port = srv.start()
    srv.base = f"http://{host}:{port}"  # type: ignore[attr-defined]
    yield srv
    srv.stop()
