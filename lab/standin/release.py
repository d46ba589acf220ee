"""The kubelet release the stand-in mirrors, and the feature gates that differ between
releases."""

from __future__ import annotations

from typing import Dict, Tuple

# The kubelet release whose behaviour is mirrored: 1.34, or the older minor release the lab
# sets in KUBELET_STANDIN_RELEASE (1.29 to 1.33) to stand in for a node not yet upgraded. What
# the stand-in models differs between those releases in one place: the feature gate below.
RELEASE = (1, 34)
OLDEST_RELEASE = (1, 29)
# RelaxedEnvironmentVariableValidation (pkg/features/kube_features.go; the feature-gates page
# of kubernetes/website): alpha, off by default, in 1.30-1.31; beta, on, in 1.32-1.33; GA and
# locked on from 1.34. Off, environment variable names must be C-like (IsEnvVarName).
RELAXED_ENV = "RelaxedEnvironmentVariableValidation"
# The process-wide gates, as utilfeature.DefaultFeatureGate is in the kubelet: main() sets
# them from the release and the node's configuration before any manifest is read.
FEATURE_GATES: Dict[str, bool] = {RELAXED_ENV: True}


def version_text(release: Tuple[int, int]) -> str:
    return f"v{release[0]}.{release[1]}.0-spctl-lab-standin"
