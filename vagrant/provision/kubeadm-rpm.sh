#!/usr/bin/env bash
# Rocky Linux with the rpm packages of pkgs.k8s.io and containerd.io from Docker's repository
# (neither Rocky nor EPEL ships containerd): as kubeadm-deb.sh, with KUBELET_EXTRA_ARGS in
# /etc/sysconfig/kubelet. Repository setup as in the kubeadm install guide (Red Hat-based
# distributions), SELinux permissive as that guide does.
set -euxo pipefail
# shellcheck source=common.sh
. "${PROVISION_DIR:-/vagrant/provision}/common.sh"
: "${K8S_MINOR:?K8S_MINOR (e.g. 1.34) is set by the Vagrantfile}"
setenforce 0 || true
sed -i 's/^SELINUX=enforcing/SELINUX=permissive/' /etc/selinux/config
dnf install -y dnf-plugins-core python3 curl
dnf config-manager --add-repo https://download.docker.com/linux/centos/docker-ce.repo
dnf install -y containerd.io
cat > /etc/yum.repos.d/kubernetes.repo <<REPO
[kubernetes]
name=Kubernetes
baseurl=https://pkgs.k8s.io/core:/stable:/v${K8S_MINOR}/rpm/
enabled=1
gpgcheck=1
gpgkey=https://pkgs.k8s.io/core:/stable:/v${K8S_MINOR}/rpm/repodata/repomd.xml.key
REPO
dnf install -y kubelet kubeadm kubernetes-cni cri-tools
# kubelet.spec installs kubelet.env (KUBELET_EXTRA_ARGS=) as /etc/sysconfig/kubelet; this
# only stands in for a package that stopped shipping it.
[ -f /etc/sysconfig/kubelet ] || echo 'KUBELET_EXTRA_ARGS=' > /etc/sysconfig/kubelet
# shellcheck source=kubeadm-config.sh
. "${PROVISION_DIR:-/vagrant/provision}/kubeadm-config.sh"
