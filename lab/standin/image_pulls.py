"""What a missing image means on a node with no registry: imagePullPolicy's default, and the
pull back-off."""

from __future__ import annotations

from typing import Any, Dict, Tuple

from .manifests import StaticPod
from .restarts import BACKOFF_INITIAL, BACKOFF_MAX
from .runtime import StartFailure


def pull_policy(spec: Dict[str, Any]) -> str:
    """The container's imagePullPolicy with the API's default (pkg/apis/core/v1/defaults.go
    SetDefaults_Container): Always for an image tagged :latest or untagged, else IfNotPresent."""
    if spec.get("imagePullPolicy"):
        return str(spec["imagePullPolicy"])
    image = str(spec.get("image") or "")
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    return "Always" if last.partition(":")[2] in ("", "latest") else "IfNotPresent"


class ImagePulls:
    """pkg/kubelet/images/image_manager.go EnsureImageExists for an image the runtime lacks,
    on a node with no registry: Never gives ErrImageNeverPull; otherwise the pull fails
    (ErrImagePull) and, while the pull back-off of that pod and image lasts (10 s doubling to
    300 s, kubelet.go imageBackOffPeriod / MaxContainerBackOff), ImagePullBackOff."""

    def __init__(self) -> None:
        self._backoff: Dict[str, Tuple[float, float]] = {}  # "<uid>_<image>" -> (until, delay)

    def failure(self, pod: StaticPod, spec: Dict[str, Any], now: float) -> StartFailure:
        image = spec["image"]
        if pull_policy(spec) == "Never":
            why = f'Container image "{image}" is not present with pull policy of Never'
            return StartFailure("ErrImageNeverPull", why, False)
        key = f"{pod.uid}_{image}"
        until, delay = self._backoff.get(key, (0.0, 0.0))
        if now < until:
            return StartFailure("ImagePullBackOff", f'Back-off pulling image "{image}"', False)
        delay = min(delay * 2, BACKOFF_MAX) if delay else BACKOFF_INITIAL
        self._backoff[key] = (now + delay, delay)
        why = (
            f'Failed to pull image "{image}": rpc error: code = NotFound desc = failed to pull '
            f'and unpack image "{image}": the lab has no registry'
        )
        return StartFailure("ErrImagePull", why, False)
