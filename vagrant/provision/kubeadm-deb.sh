#!/usr/bin/env bash
# Ubuntu with the kubelet, kubeadm, kubernetes-cni and cri-tools packages of pkgs.k8s.io and
# Ubuntu's containerd, laid out as `kubeadm join` leaves a node (kubeadm-config.sh): the
# 10-kubeadm.conf drop-in, /var/lib/kubelet/config.yaml (staticPodPath), kubeadm-flags.env and
# /etc/default/kubelet, plus a drop-in that runs the kubelet standalone (no API server).
# Repository setup as in the kubeadm install guide ("Installing kubeadm, kubelet and kubectl").
set -euxo pipefail
# shellcheck source=common.sh
. "${PROVISION_DIR:-/vagrant/provision}/common.sh"
: "${K8S_MINOR:?K8S_MINOR (e.g. 1.34) is set by the Vagrantfile}"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y apt-transport-https ca-certificates curl gpg containerd python3
mkdir -p /etc/apt/keyrings
curl -fsSL "https://pkgs.k8s.io/core:/stable:/v${K8S_MINOR}/deb/Release.key" | gpg --dearmor --yes -o /etc/apt/keyrings/kubernetes-apt-keyring.gpg
echo "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] https://pkgs.k8s.io/core:/stable:/v${K8S_MINOR}/deb/ /" > /etc/apt/sources.list.d/kubernetes.list
apt-get update
# kubernetes-cni (the CNI plugins in /opt/cni/bin) is a dependency of kubelet since 1.28
# (kubernetes/release cmd/krel/templates/latest/metadata.yaml); named here so that it stays
# if that changes.
apt-get install -y kubelet kubeadm kubernetes-cni cri-tools
# The file 10-kubeadm.conf reads on deb (kubeadm.spec rewrites /etc/sysconfig/kubelet to
# /etc/default/kubelet for debbuild); kubelet.spec installs kubelet.env there
# (KUBELET_EXTRA_ARGS=), so this only stands in for a package that stopped shipping it.
[ -f /etc/default/kubelet ] || echo 'KUBELET_EXTRA_ARGS=' > /etc/default/kubelet
# shellcheck source=kubeadm-config.sh
. "${PROVISION_DIR:-/vagrant/provision}/kubeadm-config.sh"
