#!/usr/bin/env bash
# Fedora's own kubernetes node packages (the layout of the seed walkthrough): the kubelet
# unit reads /etc/kubernetes/config and /etc/kubernetes/kubelet. Fedora versions its
# packages per Kubernetes minor (kubernetes1.3x-node); older releases call it kubernetes-node.
set -euxo pipefail
. /vagrant/provision/common.sh
minor="${K8S_MINOR#1.}"
dnf install -y python3 containerd "kubernetes1.${minor}-node" cri-tools || dnf install -y python3 containerd kubernetes-node cri-tools
mkdir -p /etc/containerd
containerd config default | sed 's/SystemdCgroup = false/SystemdCgroup = true/' > /etc/containerd/config.toml
systemctl enable --now containerd
# The node before spctl: cluster DNS flags, no manifest path (as in the seed walkthrough).
cat > /etc/kubernetes/kubelet <<ENV
KUBELET_ADDRESS="--address=127.0.0.1"
KUBELET_HOSTNAME="--hostname-override=$(hostname)"
KUBELET_ARGS="--cluster-dns=10.254.0.10 --cluster-domain=kube.local --container-runtime-endpoint=unix:///run/containerd/containerd.sock --cgroup-driver=systemd"
ENV
echo 'runtime-endpoint: unix:///run/containerd/containerd.sock' > /etc/crictl.yaml
systemctl enable --now kubelet
