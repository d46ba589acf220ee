#!/usr/bin/env bash
# k3s agent-less server with its embedded kubelet; static pods go in
# /var/lib/rancher/k3s/agent/pod-manifests.
set -euxo pipefail
. /vagrant/provision/common.sh
apt-get update && apt-get install -y python3 curl
curl -sfL https://get.k3s.io | INSTALL_K3S_EXEC="server --disable=traefik" sh -
ln -sf /var/lib/rancher/k3s/agent/etc/crictl.yaml /etc/crictl.yaml
