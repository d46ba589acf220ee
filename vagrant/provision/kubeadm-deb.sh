#!/usr/bin/env bash
# Ubuntu with the kubelet and kubeadm packages of pkgs.k8s.io and containerd, laid out as
# `kubeadm join` leaves a node: /var/lib/kubelet/config.yaml (staticPodPath), the
# 10-kubeadm.conf drop-in, kubeadm-flags.env and /etc/default/kubelet. Standalone: no
# API server, so no kubeconfig; the kubelet runs static pods only.
set -euxo pipefail
. /vagrant/provision/common.sh
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y apt-transport-https ca-certificates curl gpg containerd python3
mkdir -p /etc/containerd /etc/apt/keyrings
containerd config default | sed 's/SystemdCgroup = false/SystemdCgroup = true/' > /etc/containerd/config.toml
systemctl restart containerd
curl -fsSL "https://pkgs.k8s.io/core:/stable:/v${K8S_MINOR}/deb/Release.key" | gpg --dearmor --yes -o /etc/apt/keyrings/kubernetes.gpg
echo "deb [signed-by=/etc/apt/keyrings/kubernetes.gpg] https://pkgs.k8s.io/core:/stable:/v${K8S_MINOR}/deb/ /" > /etc/apt/sources.list.d/kubernetes.list
apt-get update
apt-get install -y kubelet kubeadm cri-tools
. /vagrant/provision/kubeadm-config.sh
