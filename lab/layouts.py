"""How each lab profile lays out a node, file by file.

Every lab node runs the same Debian image; what makes a node "fedora" or "kubeadm-deb" is
this layout, copied in before the node boots: the kubelet unit, drop-ins, environment files
and variable names that the real packages of that distribution install, and the
os-release of the distribution it imitates. The base system stays Debian, so only these
files differ; spctl's detection and configuration read exactly these files on real nodes.

The kubelet these units start is the lab's kubelet stand-in (``/usr/bin/kubelet``), not a
real kubelet.
"""

from __future__ import annotations

from dataclasses import dataclass

PROFILES = ("fedora", "kubeadm-deb", "kubeadm-rpm", "k3s")
WANTS = "/etc/systemd/system/multi-user.target.wants"


@dataclass(frozen=True)
class NodeFile:
    content: str = ""
    mode: int = 0o644
    symlink: str | None = None  # when set, the file is a symlink to this target
    directory: bool = False


# -- fedora: the `kubernetes-node` rpm of Fedora / the seed walkthrough ----------------------

FEDORA_UNIT = """\
[Unit]
Description=Kubernetes Kubelet Server
Documentation=https://kubernetes.io/docs/concepts/overview/components/#kubelet
After=docker.service
Requires=docker.service

[Service]
WorkingDirectory=/var/lib/kubelet
EnvironmentFile=-/etc/kubernetes/config
EnvironmentFile=-/etc/kubernetes/kubelet
ExecStart=/usr/bin/kubelet \\
	    $KUBE_LOGTOSTDERR \\
	    $KUBE_LOG_LEVEL \\
	    $KUBELET_API_SERVER \\
	    $KUBELET_ADDRESS \\
	    $KUBELET_PORT \\
	    $KUBELET_HOSTNAME \\
	    $KUBELET_ARGS
Restart=on-failure
KillMode=process

[Install]
WantedBy=multi-user.target
"""

FEDORA_CONFIG = """\
###
# kubernetes system config
#
# The following values are used to configure various aspects of all
# kubernetes services, including
#
#   kube-apiserver.service
#   kube-controller-manager.service
#   kube-scheduler.service
#   kubelet.service
#   kube-proxy.service
# logging to stderr means we get it in the systemd journal
KUBE_LOGTOSTDERR="--logtostderr=true"

# journal message level, 0 is debug
KUBE_LOG_LEVEL="--v=0"

# How the controller-manager, scheduler, and proxy find the apiserver
KUBE_MASTER="--master=http://127.0.0.1:8080"
"""


def fedora_kubelet_env(node: str) -> str:
    # The seed walkthrough's node, before it is pointed at a manifest directory.
    return f"""\
###
# kubernetes kubelet (minion) config

# The address for the info server to serve on (set to 0.0.0.0 or "" for all interfaces)
KUBELET_ADDRESS="--address=127.0.0.1"

# The port for the info server to serve on
# KUBELET_PORT="--port=10250"

# You may leave this blank to use the actual hostname
KUBELET_HOSTNAME="--hostname-override={node}"

# Add your own!
KUBELET_ARGS="--cluster-dns=10.254.0.10 --cluster-domain=kube.local"
"""


# -- kubeadm: the kubelet and kubeadm packages of pkgs.k8s.io --------------------------------

KUBEADM_UNIT = """\
[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
"""


def kubeadm_dropin(extra_args_file: str) -> str:
    return f"""\
# Note: This dropin only works with kubeadm and kubelet v1.11+
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
# This is a file that "kubeadm init" and "kubeadm join" generates at runtime, populating the KUBELET_KUBEADM_ARGS variable dynamically
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
# This is a file that the user can use for overrides of the kubelet args as a last resort. Preferably, the user should use
# the .NodeRegistration.KubeletExtraArgs object in the configuration files instead. KUBELET_EXTRA_ARGS should be sourced from this file.
EnvironmentFile=-{extra_args_file}
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
"""  # noqa: E501


KUBEADM_CONFIG = """\
apiVersion: kubelet.config.k8s.io/v1beta1
authentication:
  anonymous:
    enabled: false
  webhook:
    cacheTTL: 0s
    enabled: true
  x509:
    clientCAFile: /etc/kubernetes/pki/ca.crt
authorization:
  mode: Webhook
cgroupDriver: cgroupfs
clusterDNS:
- 10.96.0.10
clusterDomain: cluster.local
healthzBindAddress: 127.0.0.1
healthzPort: 10248
kind: KubeletConfiguration
rotateCertificates: true
staticPodPath: /etc/kubernetes/manifests
"""

KUBEADM_FLAGS = (
    'KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///var/run/cri-dockerd.sock '
    '--pod-infra-container-image=registry.k8s.io/pause:3.10"\n'
)


# -- k3s: the install script's layout ---------------------------------------------------------

K3S_UNIT = """\
[Unit]
Description=Lightweight Kubernetes
Documentation=https://k3s.io
Wants=network-online.target
After=network-online.target docker.service

[Install]
WantedBy=multi-user.target

[Service]
Type=exec
EnvironmentFile=-/etc/default/%N
EnvironmentFile=-/etc/sysconfig/%N
EnvironmentFile=-/etc/systemd/system/k3s.service.env
KillMode=process
Delegate=yes
LimitNOFILE=1048576
TimeoutStartSec=0
Restart=always
RestartSec=5s
ExecStart=/usr/local/bin/k3s server
"""

K3S_CONFIG = """\
# k3s configuration; kubelet flags go in kubelet-arg.
write-kubeconfig-mode: "0644"
"""

# The lab's k3s is a stand-in too: it runs the kubelet stand-in the way k3s runs its
# embedded kubelet, with the fixed manifest directory and the config's kubelet-arg list.
K3S_STANDIN = """\
#!/usr/bin/python3
\"\"\"k3s stand-in for the spctl lab: runs the lab's kubelet stand-in, not Kubernetes.\"\"\"
import os, socket, sys
import yaml

args = []
try:
    with open("/etc/rancher/k3s/config.yaml") as fh:
        config = yaml.safe_load(fh) or {}
except FileNotFoundError:
    config = {}
for arg in config.get("kubelet-arg") or []:
    args.append("--" + str(arg).lstrip("-"))
node = config.get("node-name") or socket.gethostname()
os.makedirs("/var/lib/rancher/k3s/agent/pod-manifests", exist_ok=True)
os.execv("/usr/bin/kubelet", ["kubelet",
         "--pod-manifest-path=/var/lib/rancher/k3s/agent/pod-manifests",
         "--hostname-override=" + node] + args)
"""


# -- os-release of the imitated distributions -------------------------------------------------

OS_RELEASE = {
    "fedora": """\
NAME="Fedora Linux"
VERSION="40 (Server Edition)"
ID=fedora
VERSION_ID=40
PRETTY_NAME="Fedora Linux 40 (Server Edition)"
VARIANT_ID=server
""",
    "kubeadm-deb": """\
PRETTY_NAME="Ubuntu 24.04.1 LTS"
NAME="Ubuntu"
VERSION_ID="24.04"
VERSION="24.04.1 LTS (Noble Numbat)"
VERSION_CODENAME=noble
ID=ubuntu
ID_LIKE=debian
""",
    "kubeadm-rpm": """\
NAME="Rocky Linux"
VERSION="9.4 (Blue Onyx)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.4"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Rocky Linux 9.4 (Blue Onyx)"
""",
    # k3s installs on any distribution; the lab's k3s node stays Debian.
    "k3s": None,
}

# Lab-only: the stand-in checks its manifest directory every second instead of the real
# default of 20 s, so tests and demos do not wait. Real nodes never get this file.
STANDIN_DROPIN = """\
[Service]
Environment=KUBELET_STANDIN_FILE_CHECK_FREQUENCY=1s
"""


def node_files(profile: str, node: str) -> dict[str, NodeFile]:
    """Every file that gives ``node`` the layout of ``profile``."""
    files: dict[str, NodeFile] = {}
    release = OS_RELEASE[profile]
    if release is not None:
        # /etc/os-release is a symlink to /usr/lib/os-release on Debian; replace both.
        files["/usr/lib/os-release"] = NodeFile(release)
    if profile == "fedora":
        files["/usr/lib/systemd/system/kubelet.service"] = NodeFile(FEDORA_UNIT)
        files["/etc/kubernetes/config"] = NodeFile(FEDORA_CONFIG)
        files["/etc/kubernetes/kubelet"] = NodeFile(fedora_kubelet_env(node))
        files[f"{WANTS}/kubelet.service"] = NodeFile(
            symlink="/usr/lib/systemd/system/kubelet.service"
        )
        files["/etc/systemd/system/kubelet.service.d/90-spctl-lab-standin.conf"] = NodeFile(
            STANDIN_DROPIN
        )
    elif profile in ("kubeadm-deb", "kubeadm-rpm"):
        deb = profile == "kubeadm-deb"
        unit_dir = "/lib/systemd/system" if deb else "/usr/lib/systemd/system"
        extra_args = "/etc/default/kubelet" if deb else "/etc/sysconfig/kubelet"
        files[f"{unit_dir}/kubelet.service"] = NodeFile(KUBEADM_UNIT)
        files[f"{unit_dir}/kubelet.service.d/10-kubeadm.conf"] = NodeFile(
            kubeadm_dropin(extra_args)
        )
        files[extra_args] = NodeFile("KUBELET_EXTRA_ARGS=\n")
        files["/var/lib/kubelet/config.yaml"] = NodeFile(KUBEADM_CONFIG)
        files["/var/lib/kubelet/kubeadm-flags.env"] = NodeFile(KUBEADM_FLAGS)
        files["/etc/kubernetes/manifests"] = NodeFile(mode=0o755, directory=True)
        files[f"{WANTS}/kubelet.service"] = NodeFile(symlink=f"{unit_dir}/kubelet.service")
        files["/etc/systemd/system/kubelet.service.d/90-spctl-lab-standin.conf"] = NodeFile(
            STANDIN_DROPIN
        )
    elif profile == "k3s":
        files["/etc/systemd/system/k3s.service"] = NodeFile(K3S_UNIT)
        files["/etc/systemd/system/k3s.service.env"] = NodeFile("", 0o600)
        files["/etc/rancher/k3s/config.yaml"] = NodeFile(K3S_CONFIG)
        files["/usr/local/bin/k3s"] = NodeFile(K3S_STANDIN, 0o755)
        files[f"{WANTS}/k3s.service"] = NodeFile(symlink="/etc/systemd/system/k3s.service")
        files["/etc/systemd/system/k3s.service.d/90-spctl-lab-standin.conf"] = NodeFile(
            STANDIN_DROPIN
        )
    else:
        raise ValueError(f"unknown lab profile {profile!r}; choose one of {', '.join(PROFILES)}")
    return files
