"""The kubelet's HTTP pod source as a test client, following its rules one by one.

kubernetes ``pkg/kubelet/config/http.go`` (``extractFromURL``) and ``common.go``
(``tryDecodeSinglePod``, ``tryDecodePodList``, ``maxConfigLength``):

- GET with the configured headers, a 10 s client timeout;
- read at most 10 MiB; reaching that limit is an error (``k8s.io/utils/io`` ReadAtMost);
- a status other than 200 is an error: the pods stay as they were;
- an empty body sets the source's pods to none and is an error, and the last body is kept
  as the reference (``s.data`` is not reset);
- a body equal to the last one decoded is skipped;
- the body decodes as a single Pod, else as a PodList (kind ``PodList``); else an error.
  Each pod is named ``<name>-<node name in lower case>``.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from typing import Any, Optional

import yaml

MAX_CONFIG_LENGTH = 10 * 1024 * 1024


class KubeletHTTPSource:
    def __init__(self, url: str, headers: dict[str, str], node_name: str) -> None:
        self.url = url
        self.headers = headers
        self.node_name = node_name
        self.data: Optional[bytes] = None
        #: The pods the kubelet runs from this source, by full name (None: never set).
        self.pods: Optional[dict[str, dict[str, Any]]] = None
        self.errors: list[str] = []

    def poll(self) -> Optional[str]:
        """One poll; returns the error the kubelet would log, or None."""
        error = self._extract()
        if error:
            self.errors.append(error)
        return error

    def _extract(self) -> Optional[str]:
        request = urllib.request.Request(self.url, headers=self.headers, method="GET")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                status, data = response.status, response.read(MAX_CONFIG_LENGTH)
        except urllib.error.HTTPError as exc:
            return f"{self.url}: {exc.code} {exc.reason}"
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            return str(exc)
        if len(data) >= MAX_CONFIG_LENGTH:
            return "the read limit is reached"
        if status != 200:
            return f"{self.url}: {status}"
        if not data:
            self.pods = {}
            return f"zero-length data received from {self.url}"
        if data == self.data:
            return None
        self.data = data
        doc = yaml.safe_load(data)  # JSON is YAML
        if not isinstance(doc, dict):
            return "couldn't parse as single or multiple pods"
        if doc.get("kind") == "Pod" and doc.get("apiVersion") == "v1":
            items = [doc]
        elif doc.get("kind") == "PodList" and doc.get("apiVersion") == "v1":
            items = doc.get("items") or []
        else:
            return f"couldn't parse as single or multiple pods: kind {doc.get('kind')!r}"
        suffix = "-" + self.node_name.lower()
        self.pods = {item["metadata"]["name"] + suffix: item for item in items}
        return None
