#!/usr/bin/env bash
# k3s as its install script lays it out (k3s-io/k3s install.sh): a server with its embedded
# kubelet, unit k3s.service, and /etc/systemd/system/k3s.service.env holding every K3S_*
# variable exported to the installer (create_env_file), which the unit reads as an
# EnvironmentFile. K3S_NODE_NAME goes there: k3s names its node from it (lowercased), so the
# kubelet's node name comes from the environment file, not from a flag on a command line
# (k3s rewrites its process title, and runs the kubelet inside its own process).
# Static pods go in <data-dir>/agent/pod-manifests, /var/lib/rancher/k3s/agent/pod-manifests by
# default. k3s brings its own containerd and CNI (flannel), so nothing else is set up here.
set -euxo pipefail
# shellcheck source=common.sh
. "${PROVISION_DIR:-/vagrant/provision}/common.sh"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y python3 curl
# The Vagrantfile may pass K3S_NODE_NAME; by default the node is named after the host, as the
# other VMs are (spctl's inventory calls it my-node4 either way).
K3S_NODE_NAME="${K3S_NODE_NAME:-$(hostname)}"
export K3S_NODE_NAME
curl -sfL https://get.k3s.io -o /tmp/k3s-install.sh
INSTALL_K3S_EXEC="server --disable=traefik" sh /tmp/k3s-install.sh
# The installer copies `sh -c export` output, which quotes values: K3S_NODE_NAME='my-node4'.
grep -qxF -e "K3S_NODE_NAME=${K3S_NODE_NAME}" -e "K3S_NODE_NAME='${K3S_NODE_NAME}'" /etc/systemd/system/k3s.service.env
ln -sf /var/lib/rancher/k3s/agent/etc/crictl.yaml /etc/crictl.yaml
wait_kubelet_healthy k3s
