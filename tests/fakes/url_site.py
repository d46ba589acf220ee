"""A URL-mode site: an inventory whose nodes take their pods from spctl serve, its
templates and its secret, in one directory."""

from __future__ import annotations

from pathlib import Path

from spctl import manifest_url
from tests.fakes.cli import POD_TEMPLATE

INVENTORY = """\
url: {base: "http://192.0.2.10:8080/", secret_file: secret}
defaults:
  source: url
  vars: {image: "nginx:1.27"}
groups:
  webs:
    members: [n1, n2, filenode]
    pods: [web]
  edge:
    members: [n2]
    pods: [cache]
nodes:
  n1: {}
  n2: {}
  empty: {}
  filenode: {source: file}
"""


def write_site(directory: Path) -> Path:
    """The site in ``directory``: templates/ (web, cache), inv.yaml and secret."""
    (directory / "templates").mkdir()
    (directory / "templates" / "web.yaml.j2").write_text(POD_TEMPLATE)
    (directory / "templates" / "cache.yaml.j2").write_text(POD_TEMPLATE)
    (directory / "inv.yaml").write_text(INVENTORY)
    assert manifest_url.init_secret(directory / "secret")
    return directory
