#!/usr/bin/env bash
# Rocky Linux with the rpm packages of pkgs.k8s.io: as kubeadm-deb, with KUBELET_EXTRA_ARGS
# in /etc/sysconfig/kubelet.
set -euxo pipefail
. /vagrant/provision/common.sh
setenforce 0 || true
sed -i 's/^SELINUX=enforcing/SELINUX=permissive/' /etc/selinux/config
dnf install -y dnf-plugins-core python3
dnf config-manager --add-repo https://download.docker.com/linux/centos/docker-ce.repo
dnf install -y containerd.io
mkdir -p /etc/containerd
containerd config default | sed 's/SystemdCgroup = false/SystemdCgroup = true/' > /etc/containerd/config.toml
systemctl enable --now containerd
cat > /etc/yum.repos.d/kubernetes.repo <<REPO
[kubernetes]
name=Kubernetes
baseurl=https://pkgs.k8s.io/core:/stable:/v${K8S_MINOR}/rpm/
enabled=1
gpgcheck=1
gpgkey=https://pkgs.k8s.io/core:/stable:/v${K8S_MINOR}/rpm/repodata/repomd.xml.key
REPO
dnf install -y kubelet kubeadm cri-tools
. /vagrant/provision/kubeadm-config.sh
