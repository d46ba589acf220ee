"""How each lab profile lays out a node, file by file.

Every lab node runs the same Debian image; what makes a node "fedora" or "kubeadm-deb" is
this layout, copied in before the node boots: the kubelet unit, drop-ins, environment files
and variable names that the real packages of that distribution install, and the
os-release of the distribution it imitates. The base system stays Debian, so only these
files differ; spctl's detection and configuration read exactly these files on real nodes.

The kubelet these units start is the lab's kubelet stand-in (``/usr/bin/kubelet``), not a
real kubelet. The layout also picks the node's container runtime: Docker on fedora nodes
(the seed walkthrough's ``docker ps``), containerd with its CRI plugin on kubeadm nodes, and
k3s's own containerd on k3s nodes, each with its configuration where the real thing keeps it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

PROFILES = ("fedora", "kubeadm-deb", "kubeadm-rpm", "k3s", "rke2", "fedora-config")
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
# --logtostderr is gone from the kubelet since 1.26 (KEP-2845: the klog flags were removed;
# the kubelet logs to stderr anyway); an empty variable expands to nothing on ExecStart.
KUBE_LOGTOSTDERR=""

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


# As kubeadm writes it (trimmed): its zero durations (fileCheckFrequency: 0s, ...) are what
# the kubelet's v1beta1 defaults.go turns into 20 s.
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
fileCheckFrequency: 0s
healthzBindAddress: 127.0.0.1
healthzPort: 10248
httpCheckFrequency: 0s
kind: KubeletConfiguration
rotateCertificates: true
staticPodPath: /etc/kubernetes/manifests
"""

# The kubeconfig `kubeadm join` leaves (cmd/kubeadm/app/phases/kubeconfig): the drop-in's
# --kubeconfig must exist or the kubelet exits, and so would the stand-in. It points at an
# API server the lab does not run: the kubelet keeps running its static pods meanwhile.
KUBEADM_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority: /etc/kubernetes/pki/ca.crt
    server: https://127.0.0.1:6443
  name: kubernetes
contexts:
- context:
    cluster: kubernetes
    user: system:node
  name: system:node@kubernetes
current-context: system:node@kubernetes
users:
- name: system:node
  user:
    client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem
    client-key: /var/lib/kubelet/pki/kubelet-client-current.pem
"""

# As kubeadm writes it (cmd/kubeadm/app/phases/kubelet/flags.go, buildKubeletArgsCommon): the
# node's CRI socket as --container-runtime-endpoint, and the pause image.
KUBEADM_FLAGS = (
    'KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock '
    '--pod-infra-container-image=registry.k8s.io/pause:3.10"\n'
)


# -- containerd with its CRI plugin (Debian's containerd and containernetworking-plugins) ------

# The lab builds its pause image (no registry can be reached); ctr names an imported
# "spctl-lab/pause:latest" docker.io/spctl-lab/pause:latest, as the CRI looks it up.
PAUSE_IMAGE_REF = "docker.io/spctl-lab/pause:latest"
POD_IMAGE_REF = "docker.io/spctl-lab/pod:1.0"


def containerd_config(cni_conf_dir: str, note: str) -> str:
    """containerd's config for the kubelet: the CRI plugin with Debian's CNI plugins
    (/usr/lib/cni) and the lab's pause image. The lab's nodes are containers without the
    rights to load AppArmor profiles or lower OOM scores; the CRI plugin's own switches turn
    those off."""
    return f"""\
# {note}
version = 2

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "{PAUSE_IMAGE_REF}"
    disable_apparmor = true
    restrict_oom_score_adj = true
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "{cni_conf_dir}"
"""


# Docker's own containerd package ships with the CRI plugin off: the Fedora (Docker) node's
# containerd serves dockerd only, so no CRI socket answers there.
CONTAINERD_CONFIG_DOCKER = """\
# containerd for dockerd only, as Docker's containerd package ships it: no CRI.
version = 2
disabled_plugins = ["io.containerd.grpc.v1.cri"]
"""

# A bridge with host-local addresses; containerd's CRI plugin adds the loopback network
# itself (go-cni's WithLoNetwork, with /usr/lib/cni/loopback).
CNI_CONFLIST = """\
{
  "cniVersion": "0.4.0",
  "name": "spctl-lab",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "10.88.0.0/16"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
"""

IMAGES_UNIT_CONTAINERD = """\
[Unit]
Description=spctl lab: load the lab's pod and pause images into containerd's k8s.io namespace
After=containerd.service
Requires=containerd.service
Before=kubelet.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/bin/ctr --namespace k8s.io images import /usr/share/spctl-lab/pod-image.tar
ExecStart=/usr/bin/ctr --namespace k8s.io images import /usr/share/spctl-lab/pause-image.tar

[Install]
WantedBy=multi-user.target
"""

MASKED = "/dev/null"


# -- k3s: the install script's layout ---------------------------------------------------------

K3S_UNIT = """\
[Unit]
Description=Lightweight Kubernetes
Documentation=https://k3s.io
Wants=network-online.target
After=network-online.target

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

K3S_DATA_DIR = "/var/lib/rancher/k3s"
# k3s's embedded containerd: config and root under the data dir (pkg/agent/config/config.go),
# state and socket under /run/k3s/containerd (pkg/agent/config/config_linux.go).
K3S_CONTAINERD_CONFIG = f"{K3S_DATA_DIR}/agent/etc/containerd/config.toml"
K3S_CONTAINERD_ROOT = f"{K3S_DATA_DIR}/agent/containerd"
K3S_CONTAINERD_SOCKET = "/run/k3s/containerd/containerd.sock"
K3S_CNI_CONF_DIR = f"{K3S_DATA_DIR}/agent/etc/cni/net.d"
K3S_IMAGES_DIR = f"{K3S_DATA_DIR}/agent/images"  # pre-loaded ("air-gap") image tarballs

# The lab's k3s (and rke2) is a stand-in too. Like k3s, it starts its own containerd (k3s's
# pkg/agent/containerd/containerd.go: `containerd -c CONFIG -a ADDRESS --state STATE --root
# ROOT`, logging to ROOT/containerd.log), imports the tarballs in agent/images, then runs
# the kubelet stand-in inside its own process, as k3s runs its embedded kubelet (no kubelet
# process with flags to read). Like k3s it first rewrites its process title to
# "<argv0> server", so /proc/PID/cmdline hides its flags: k3s pkg/cli/server/server.go,
# run(): `gspt.SetProcTitle(os.Args[0] + " server")` ("hide process arguments from ps
# output"); here the argv area is overwritten in place, as gspt does.
# The node name and data dir are resolved as k3s resolves them (pkg/configfilearg: the
# config file, then config.yaml.d/*.yaml in lexical order, become flags before the command
# line's; a flag beats the K3S_*/RKE2_* variable; pkg/agent/config/config.go: the name
# lowercased, `-<id>` from /etc/rancher/node/id under --with-node-id) and the kubelet watches
# <data-dir>/agent/pod-manifests; node-ip (-i, a list) reaches the kubelet as --node-ip.
# rke2 is k3s's command line with version.Program = "rke2":
# /etc/rancher/rke2, RKE2_*, /var/lib/rancher/rke2, and the same containerd socket
# /run/k3s/containerd/containerd.sock (rke2 runs k3s's agent, pkg/agent/config/config_linux.go).
RANCHER_STANDIN = """\
#!/usr/bin/python3
\"\"\"k3s/rke2 stand-in for the spctl lab: runs containerd and the lab's kubelet stand-in, not
Kubernetes.\"\"\"
import ctypes, glob, os, secrets, socket, subprocess, sys, time
import yaml

PROGRAM = os.path.basename(sys.argv[0])  # k3s or rke2
PREFIX = PROGRAM.upper() + "_"
STATE = "/run/k3s/containerd"
ADDRESS = STATE + "/containerd.sock"


def set_proc_title(title):
    \"\"\"Overwrite the argv area, as gspt.SetProcTitle does: /proc/self/cmdline shows title.\"\"\"
    with open("/proc/self/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end (proc(5) 48, 49)
    data = title.replace(" ", "\\0").encode()[: end - start - 1]
    ctypes.memmove(start, data + bytes(end - start - len(data)), end - start)


def flag_pairs(args):
    \"\"\"[(name, value)] of --name=value / --name value / boolean --name.\"\"\"
    pairs, i = [], 0
    while i < len(args):
        arg = args[i].lstrip("-")
        if "=" in arg:
            name, value = arg.split("=", 1)
        elif arg in ("with-node-id",) or i + 1 >= len(args) or args[i + 1].startswith("-"):
            name, value = arg, "true"
        else:
            name, value = arg, args[i + 1]
            i += 1
        pairs.append(({"c": "config", "d": "data-dir", "i": "node-ip"}.get(name, name), value))
        i += 1
    return pairs


def config_pairs(path):
    pairs = []
    files = [path] + sorted(glob.glob(path + ".d/*.yaml") + glob.glob(path + ".d/*.yml"))
    merged, appended = {}, {}
    for name in files:
        try:
            with open(name) as fh:
                doc = yaml.safe_load(fh) or {}
        except FileNotFoundError:
            continue
        for key, value in doc.items():
            if key.endswith("+"):
                appended.setdefault(key[:-1], []).extend(value if isinstance(value, list) else [value])
            else:
                merged[key] = value
                appended.pop(key, None)
    for key, value in merged.items():
        for item in (value if isinstance(value, list) else [value]) + appended.pop(key, []):
            pairs.append((key, str(item).lower() if isinstance(item, bool) else str(item)))
    for key, values in appended.items():
        pairs += [(key, str(v)) for v in values]
    return pairs


cli = flag_pairs(sys.argv[2:] if len(sys.argv) > 1 else [])
set_proc_title(sys.argv[0] + " server")
config = os.environ.get(PREFIX + "CONFIG_FILE") or dict(cli).get("config") or (
    "/etc/rancher/" + PROGRAM + "/config.yaml")
pairs = config_pairs(config) + cli


def last(name, env=None):
    values = [v for k, v in pairs if k == name]
    return values[-1] if values else os.environ.get(env or PREFIX + name.upper().replace("-", "_"))


data = last("data-dir") or "/var/lib/rancher/" + PROGRAM
node = (last("node-name") or socket.gethostname()).lower()
if (last("with-node-id") or "false").lower() == "true":
    try:
        with open("/etc/rancher/node/id") as fh:
            node_id = fh.read().strip()
    except FileNotFoundError:
        node_id = secrets.token_hex(4)
        os.makedirs("/etc/rancher/node", exist_ok=True)
        with open("/etc/rancher/node/id", "w") as fh:
            fh.write(node_id)
    node += "-" + node_id
root = data + "/agent/containerd"


def containerd_answers():
    probe = socket.socket(socket.AF_UNIX)
    try:
        probe.connect(ADDRESS)
        return True
    except OSError:
        return False
    finally:
        probe.close()


if not containerd_answers():  # one survives a restart (KillMode=process)
    os.makedirs(root, exist_ok=True)
    logfile = open(root + "/containerd.log", "ab")
    subprocess.Popen(["containerd", "-c", data + "/agent/etc/containerd/config.toml",
                      "-a", ADDRESS, "--state", STATE, "--root", root],
                     stdout=logfile, stderr=logfile)
    deadline = time.monotonic() + 60
    while not containerd_answers():
        if time.monotonic() > deadline:
            sys.exit(PROGRAM + " stand-in: containerd did not start; see " + root + "/containerd.log")
        time.sleep(0.2)
for tarball in sorted(glob.glob(data + "/agent/images/*.tar")):
    subprocess.run(["ctr", "--address", ADDRESS, "--namespace", "k8s.io", "images", "import",
                    tarball], check=True, stdout=subprocess.DEVNULL)

manifests = data + "/agent/pod-manifests"
os.makedirs(manifests, exist_ok=True)
args = ["--pod-manifest-path=" + manifests, "--container-runtime-endpoint=unix://" + ADDRESS,
        "--hostname-override=" + node]
# node-ip: every occurrence adds, each a comma list; k3s gives the list to its kubelet as
# --node-ip (pkg/daemons/agent/agent_linux.go kubeletArgsAndConfig), before the kubelet-args.
node_ips = [ip for k, v in pairs if k == "node-ip" for ip in v.split(",") if ip]
if node_ips:
    args.append("--node-ip=" + ",".join(node_ips))
args += ["--" + v.lstrip("-") for k, v in pairs if k == "kubelet-arg"]
sys.path.insert(0, "/usr/lib/spctl-lab")
from standin.main import main  # noqa: E402  (the kubelet runs in this process, as k3s's does)

sys.exit(main(args))
"""

K3S_UNIT_ENV = """\
K3S_TOKEN='{token}'
K3S_NODE_NAME='{name}'
"""


def k3s_node_name(node: str) -> str:
    """The mixed-case K3S_NODE_NAME the lab's install wrote: 'my-node4' -> 'Lab-K3s-4', so
    the kubelet's node name (lowercased) differs from the host name."""
    digits = "".join(ch for ch in node if ch.isdigit()) or "1"
    return f"Lab-K3s-{digits}"


# A second EnvironmentFile= and an Environment= in a drop-in, as proxy settings often come.
K3S_PROXY_DROPIN = """\
[Service]
EnvironmentFile=-/etc/default/k3s-proxy
Environment=NO_PROXY=127.0.0.0/8,10.0.0.0/8,localhost
"""

# rke2's bundle/lib/systemd/system/rke2-server.service (installed to /usr/local/lib/systemd).
RKE2_UNIT = """\
[Unit]
Description=Rancher Kubernetes Engine v2 (server)
Documentation=https://github.com/rancher/rke2#readme
Wants=network-online.target
After=network-online.target
Conflicts=rke2-agent.service

[Install]
WantedBy=multi-user.target

[Service]
Type=exec
EnvironmentFile=-/etc/default/%N
EnvironmentFile=-/etc/sysconfig/%N
EnvironmentFile=-/usr/local/lib/systemd/system/%N.env
KillMode=process
Delegate=yes
LimitNOFILE=1048576
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
TimeoutStartSec=0
Restart=always
RestartSec=5s
ExecStart=/usr/local/bin/rke2 server
"""

RKE2_DATA_DIR = "/var/lib/rancher/rke2"
# The control-plane pods rke2 writes into its manifest directory (pkg/podtemplate/types.go
# names; pkg/executor/staticpod/staticpod.go writes <component>.yaml). Lab pods: they run
# the lab's pod image and sleep, on the host network as the real ones do.
RKE2_COMPONENTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kube-proxy",
)


def rke2_component_manifest(component: str) -> str:
    return f"""\
apiVersion: v1
kind: Pod
metadata:
  name: {component}
  namespace: kube-system
  labels:
    component: {component}
    tier: control-plane
spec:
  hostNetwork: true
  containers:
  - name: {component}
    image: {POD_IMAGE_REF}
    imagePullPolicy: IfNotPresent
    command: ["/bin/sleep", "2147483647"]
"""


# -- fedora config-file layout: the versioned kubernetes1.NN packages (Fedora 41+) ----------

FEDORA_CONFIG_FILE = "/etc/kubernetes/kubelet.conf"


def fedora_config_kubelet_env(node: str) -> str:
    return f"""\
###
# kubernetes kubelet (minion) config

# The address for the info server to serve on (set to 0.0.0.0 or "" for all interfaces)
KUBELET_ADDRESS="--address=127.0.0.1"

# You may leave this blank to use the actual hostname
KUBELET_HOSTNAME="--hostname-override={node}"

# Add your own!
KUBELET_ARGS="--config={FEDORA_CONFIG_FILE}"
"""


FEDORA_KUBELET_CONF = """\
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
clusterDNS:
- 10.254.0.10
clusterDomain: kube.local
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
failSwapOn: false
healthzBindAddress: 127.0.0.1
healthzPort: 10248
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
    # k3s and rke2 install on any distribution; the lab's nodes stay Debian.
    "k3s": None,
    "rke2": None,
    "fedora-config": """\
NAME="Fedora Linux"
VERSION="42 (Server Edition)"
ID=fedora
VERSION_ID=42
PRETTY_NAME="Fedora Linux 42 (Server Edition)"
VARIANT_ID=server
""",
}

# Lab-only: the stand-in checks its manifest directory every second instead of the real
# default of 20 s, so tests and demos do not wait. Real nodes never get this file.
STANDIN_DROPIN = """\
[Service]
Environment=KUBELET_STANDIN_FILE_CHECK_FREQUENCY=1s
"""


# Each node's container runtime, and where it keeps its state: a volume of its own there,
# since overlayfs on the node's own overlay root fails.
RUNTIMES = {
    "fedora": "docker",
    "kubeadm-deb": "containerd",
    "kubeadm-rpm": "containerd",
    "k3s": "k3s",
    "rke2": "rke2",
    "fedora-config": "containerd",
}
RUNTIME_STATE_DIRS = {
    "docker": "/var/lib/docker",
    "containerd": "/var/lib/containerd",
    "k3s": K3S_CONTAINERD_ROOT,
    "rke2": f"{RKE2_DATA_DIR}/agent/containerd",
}
CRI_SOCKETS = {
    "containerd": "/run/containerd/containerd.sock",
    "k3s": K3S_CONTAINERD_SOCKET,
    "rke2": K3S_CONTAINERD_SOCKET,  # rke2's too: /run/k3s/containerd/containerd.sock
}


def runtime_state_dir(profile: str) -> str:
    return RUNTIME_STATE_DIRS[RUNTIMES[profile]]


def _runtime_files(profile: str) -> dict[str, NodeFile]:
    runtime = RUNTIMES[profile]
    if runtime == "docker":
        return {"/etc/containerd/config.toml": NodeFile(CONTAINERD_CONFIG_DOCKER)}
    # No dockerd on CRI nodes: the kubelet talks to containerd only.
    files = {
        "/etc/systemd/system/docker.service": NodeFile(symlink=MASKED),
        "/etc/systemd/system/docker.socket": NodeFile(symlink=MASKED),
    }
    if runtime == "containerd":
        note = "containerd for the kubelet (CRI), as on a kubeadm node; spctl lab"
        files["/etc/containerd/config.toml"] = NodeFile(containerd_config("/etc/cni/net.d", note))
        files["/etc/cni/net.d/10-spctl-lab.conflist"] = NodeFile(CNI_CONFLIST)
        files["/etc/systemd/system/spctl-lab-images.service"] = NodeFile(IMAGES_UNIT_CONTAINERD)
    else:  # k3s and rke2 run their own containerd; the system's stays off
        data = K3S_DATA_DIR if runtime == "k3s" else RKE2_DATA_DIR
        note = f"{runtime}'s embedded containerd; spctl lab"
        cni = f"{data}/agent/etc/cni/net.d"
        files[f"{data}/agent/etc/containerd/config.toml"] = NodeFile(containerd_config(cni, note))
        files[f"{cni}/10-spctl-lab.conflist"] = NodeFile(CNI_CONFLIST)
        files["/etc/systemd/system/containerd.service"] = NodeFile(symlink=MASKED)
        files["/etc/systemd/system/spctl-lab-images.service"] = NodeFile(symlink=MASKED)
        for name in ("pod-image.tar", "pause-image.tar"):
            files[f"{data}/agent/images/{name}"] = NodeFile(symlink=f"/usr/share/spctl-lab/{name}")
    return files


def node_files(profile: str, node: str) -> dict[str, NodeFile]:
    """Every file that gives ``node`` the layout of ``profile``."""
    if profile not in PROFILES:
        raise ValueError(f"unknown lab profile {profile!r}; choose one of {', '.join(PROFILES)}")
    files: dict[str, NodeFile] = _runtime_files(profile)
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
        files["/etc/kubernetes/kubelet.conf"] = NodeFile(KUBEADM_KUBECONFIG, 0o600)
        files["/etc/kubernetes/manifests"] = NodeFile(mode=0o755, directory=True)
        files[f"{WANTS}/kubelet.service"] = NodeFile(symlink=f"{unit_dir}/kubelet.service")
        files["/etc/systemd/system/kubelet.service.d/90-spctl-lab-standin.conf"] = NodeFile(
            STANDIN_DROPIN
        )
    elif profile == "fedora-config":
        # The packaged unit; its runtime here is containerd (no dockerd on this node).
        unit = FEDORA_UNIT.replace("docker.service", "containerd.service")
        files["/usr/lib/systemd/system/kubelet.service"] = NodeFile(unit)
        files["/etc/kubernetes/config"] = NodeFile(FEDORA_CONFIG)
        files["/etc/kubernetes/kubelet"] = NodeFile(fedora_config_kubelet_env(node))
        files[FEDORA_CONFIG_FILE] = NodeFile(FEDORA_KUBELET_CONF)
        files[f"{WANTS}/kubelet.service"] = NodeFile(
            symlink="/usr/lib/systemd/system/kubelet.service"
        )
        files["/etc/systemd/system/kubelet.service.d/90-spctl-lab-standin.conf"] = NodeFile(
            STANDIN_DROPIN
        )
    elif profile == "rke2":
        unit = "/usr/local/lib/systemd/system/rke2-server.service"
        files[unit] = NodeFile(RKE2_UNIT)
        files["/usr/local/lib/systemd/system/rke2-server.env"] = NodeFile("HOME=/root\n")
        files["/etc/rancher/rke2/config.yaml"] = NodeFile(K3S_CONFIG)
        files["/usr/local/bin/rke2"] = NodeFile(RANCHER_STANDIN, 0o755)
        for component in RKE2_COMPONENTS:
            files[f"{RKE2_DATA_DIR}/agent/pod-manifests/{component}.yaml"] = NodeFile(
                rke2_component_manifest(component), 0o600
            )
        files[f"{WANTS}/rke2-server.service"] = NodeFile(symlink=unit)
        files["/etc/systemd/system/rke2-server.service.d/90-spctl-lab-standin.conf"] = NodeFile(
            STANDIN_DROPIN
        )
    elif profile == "k3s":
        files["/etc/systemd/system/k3s.service"] = NodeFile(K3S_UNIT)
        token = hashlib.sha256(f"spctl-lab-k3s-token:{node}".encode()).hexdigest()
        files["/etc/systemd/system/k3s.service.env"] = NodeFile(
            K3S_UNIT_ENV.format(token=token, name=k3s_node_name(node)), 0o600
        )
        files["/etc/systemd/system/k3s.service.d/http-proxy.conf"] = NodeFile(K3S_PROXY_DROPIN)
        files["/etc/rancher/k3s/config.yaml"] = NodeFile(K3S_CONFIG)
        files["/usr/local/bin/k3s"] = NodeFile(RANCHER_STANDIN, 0o755)
        files[f"{WANTS}/k3s.service"] = NodeFile(symlink="/etc/systemd/system/k3s.service")
        files["/etc/systemd/system/k3s.service.d/90-spctl-lab-standin.conf"] = NodeFile(
            STANDIN_DROPIN
        )
    else:
        raise ValueError(f"unknown lab profile {profile!r}; choose one of {', '.join(PROFILES)}")
    return files
