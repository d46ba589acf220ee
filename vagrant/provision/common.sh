# shellcheck shell=bash
# Shared by every VM (sourced, not run): kernel settings the kubelet and the bridge CNI plugin
# need, and helpers for containerd, CNI and the kubelet's health. Each helper names the source
# it follows. With SPCTL_LAB_FUNCTIONS_ONLY=1 it only defines them (vagrant/check.sh uses the
# configuration printers that way, to have containerd read what the VMs get).
# Sourced once, whichever script sources it first.
if [ -n "${SPCTL_LAB_COMMON:-}" ]; then
  return 0
fi
SPCTL_LAB_COMMON=1
if [ -z "${SPCTL_LAB_FUNCTIONS_ONLY:-}" ]; then
  set -euxo pipefail
fi

SPCTL_LAB_PREFIX="spctl-lab"
CONTAINERD_SOCK="unix:///run/containerd/containerd.sock"
POD_SUBNET="10.88.0.0/16"

# Swap off: the kubelet refuses to start with swap on unless failSwapOn is false
# (kubernetes/kubernetes pkg/kubelet/cm/container_manager_linux.go, "running with swap on is
# not supported"). Bento and Fedora cloud images may come with swap or zram.
disable_swap() {
  swapoff -a || true
  sed -i '/\sswap\s/d' /etc/fstab
  # Fedora's zram swap comes from zram-generator; an empty file in /etc turns it off for
  # good (zram-generator's zram-generator.conf(5)).
  if [ -e /usr/lib/systemd/zram-generator.conf ]; then
    : > /etc/systemd/zram-generator.conf
  fi
}

# Pods on the bridge network reach the outside through the host: IP forwarding on, and
# bridged traffic visible to iptables (the bridge plugin's ipMasq rules), as the kubeadm
# install guide asks ("Forwarding IPv4 and letting iptables see bridged traffic").
kernel_settings() {
  printf 'overlay\nbr_netfilter\n' > "/etc/modules-load.d/${SPCTL_LAB_PREFIX}.conf"
  modprobe overlay || true
  modprobe br_netfilter || true
  cat > "/etc/sysctl.d/90-${SPCTL_LAB_PREFIX}.conf" <<'SYSCTL'
net.ipv4.ip_forward = 1
net.bridge.bridge-nf-call-iptables = 1
net.bridge.bridge-nf-call-ip6tables = 1
SYSCTL
  sysctl --system >/dev/null
}

# The directory holding the CNI plugin binaries: pkgs.k8s.io's kubernetes-cni installs them in
# /opt/cni/bin (kubernetes/release cmd/krel/templates/latest/kubernetes-cni/kubernetes-cni.spec),
# Fedora's containernetworking-plugins in /usr/libexec/cni, Debian's and Ubuntu's in
# /usr/lib/cni. Prints the first that has the bridge, host-local and loopback plugins.
cni_bin_dir() {
  local dir
  for dir in /opt/cni/bin /usr/libexec/cni /usr/lib/cni; do
    if [ -x "$dir/bridge" ] && [ -x "$dir/host-local" ] && [ -x "$dir/loopback" ]; then
      echo "$dir"
      return 0
    fi
  done
  echo "${SPCTL_LAB_PREFIX}: no CNI plugins (bridge, host-local, loopback) in /opt/cni/bin, /usr/libexec/cni or /usr/lib/cni" >&2
  return 1
}

# containerd for the kubelet, written whole rather than patched: the version 2 layout of the
# CRI plugin's settings, which containerd 1.7 reads and containerd 2.x converts to its version 3
# layout itself (containerd/containerd docs/cri/config.md, "Config versions").
#  - SystemdCgroup = true matches the kubelet's cgroupDriver: systemd (same page, "Cgroup
#    Driver": both sides must agree);
#  - sandbox_image: the pause image this Kubernetes version expects, as `kubeadm config images
#    list` names it where kubeadm is installed; containerd's default otherwise;
#  - cni bin_dir/conf_dir: where this distribution's plugins are and where the conflist goes.
#    The CRI plugin adds the loopback interface itself (containerd/go-cni WithLoNetwork), which
#    runs the loopback binary from bin_dir.
# Args: CNI_BIN_DIR [SANDBOX_IMAGE]; prints the file.
containerd_config() {
  local bin_dir=$1 sandbox=${2:-}
  echo "# Written by the spctl Vagrant lab (vagrant/provision/common.sh)."
  echo "version = 2"
  echo
  echo '[plugins."io.containerd.grpc.v1.cri"]'
  if [ -n "$sandbox" ]; then
    echo "  sandbox_image = \"$sandbox\""
  fi
  echo
  echo '[plugins."io.containerd.grpc.v1.cri".containerd]'
  echo '  default_runtime_name = "runc"'
  echo
  echo '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]'
  echo '  runtime_type = "io.containerd.runc.v2"'
  echo
  echo '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]'
  echo '  SystemdCgroup = true'
  echo
  echo '[plugins."io.containerd.grpc.v1.cri".cni]'
  echo "  bin_dir = \"$bin_dir\""
  echo '  conf_dir = "/etc/cni/net.d"'
}

# Args: CNI_BIN_DIR [SANDBOX_IMAGE]
configure_containerd() {
  mkdir -p /etc/containerd
  if [ -f /etc/containerd/config.toml ] && [ ! -f /etc/containerd/config.toml.orig ]; then
    cp -p /etc/containerd/config.toml /etc/containerd/config.toml.orig
  fi
  containerd_config "$@" > /etc/containerd/config.toml
  systemctl enable containerd
  systemctl restart containerd
}

# One CNI network for pods that are not on the host network: a Linux bridge with host-local
# addresses and masquerading, the shape of containerd's own example
# (containerd/containerd script/setup/install-cni writes it as 10-containerd-net.conflist). Plugins and
# fields: containernetworking/plugins plugins/main/bridge and plugins/ipam/host-local. The
# kubelet leaves pod networking to the runtime; containerd reads the first file in conf_dir.
# cniVersion 1.0.0 needs plugins 1.0 or newer, which containerd 1.7+ requires anyway for the
# loopback network it configures itself; kubernetes-cni on pkgs.k8s.io is >= 1.2.0
# (kubernetes/release cmd/krel/templates/latest/metadata.yaml).
# Args: CNI_BIN_DIR; prints the conflist.
cni_conflist() {
  local bin_dir=$1 portmap=""
  # portmap serves hostPort; the example pod has none, so it is added only where installed.
  if [ -x "$bin_dir/portmap" ]; then
    portmap=',
    {"type": "portmap", "capabilities": {"portMappings": true}}'
  fi
  cat <<CNI
{
  "cniVersion": "1.0.0",
  "name": "${SPCTL_LAB_PREFIX}",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "${POD_SUBNET}"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    }${portmap}
  ]
}
CNI
}

# Args: CNI_BIN_DIR
write_cni_conflist() {
  mkdir -p /etc/cni/net.d
  cni_conflist "$1" > "/etc/cni/net.d/10-${SPCTL_LAB_PREFIX}.conflist"
}

# crictl, for operators looking at the node by hand (spctl's agent speaks the CRI itself), talks to containerd.
write_crictl_config() {
  cat > /etc/crictl.yaml <<CRICTL
runtime-endpoint: ${CONTAINERD_SOCK}
image-endpoint: ${CONTAINERD_SOCK}
CRICTL
}

# Wait until the kubelet answers on its healthz endpoint (healthzBindAddress/healthzPort,
# 127.0.0.1:10248 by default: kubernetes/kubernetes pkg/kubelet/apis/config/v1beta1/defaults.go)
# and fail the provisioning with the unit's log if it never does.
# Args: UNIT (kubelet or k3s)
wait_kubelet_healthy() {
  local unit=$1 i
  for i in $(seq 1 90); do
    if curl -fsS --max-time 2 http://127.0.0.1:10248/healthz >/dev/null 2>&1; then
      echo "${SPCTL_LAB_PREFIX}: the kubelet ($unit) is healthy after ${i} tries"
      return 0
    fi
    sleep 2
  done
  echo "${SPCTL_LAB_PREFIX}: the kubelet ($unit) did not become healthy; its log:" >&2
  journalctl -u "$unit" --no-pager -n 60 >&2 || true
  return 1
}

if [ -z "${SPCTL_LAB_FUNCTIONS_ONLY:-}" ]; then
  disable_swap
  kernel_settings
fi
