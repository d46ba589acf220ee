# shellcheck shell=bash
# Sourced by kubeadm-deb.sh and kubeadm-rpm.sh after the packages are installed: the node as
# `kubeadm join` leaves it, minus the API server, so that the packaged kubelet runs standalone
# and starts static pods, on the pod network a CNI conflist provides.
#
# The packages' layout (kubernetes/release, cmd/krel/templates/latest):
#  - kubelet/kubelet.service: ExecStart=/usr/bin/kubelet, no flags, Restart=always;
#  - kubeadm/10-kubeadm.conf (installed in /usr/lib/systemd/system/kubelet.service.d/ by
#    kubeadm/kubeadm.spec; /etc/sysconfig/kubelet rewritten to /etc/default/kubelet for deb):
#      Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
#      Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
#      EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env        (KUBELET_KUBEADM_ARGS)
#      EnvironmentFile=-/etc/sysconfig/kubelet or /etc/default/kubelet (KUBELET_EXTRA_ARGS)
#      ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
# `kubeadm join` writes the two kubeconfig files, config.yaml and kubeadm-flags.env. Without an
# API server there are no kubeconfig files: with --bootstrap-kubeconfig naming a missing file
# the kubelet exits at start, and restarts every 10 s for ever.
# shellcheck source=common.sh
. "${PROVISION_DIR:-/vagrant/provision}/common.sh"

# The pause image this kubeadm expects, as the kubeadm install guide has containerd use
# ("Configuring the sandbox (pause) image"); the exact version keeps kubeadm off the network.
pause_image=$(kubeadm config images list --kubernetes-version "$(kubeadm version -o short)" 2>/dev/null | grep '/pause:' || true)
bin_dir=$(cni_bin_dir)
configure_containerd "$bin_dir" "$pause_image"
write_cni_conflist "$bin_dir"
write_crictl_config

mkdir -p /var/lib/kubelet /etc/kubernetes/manifests /etc/systemd/system/kubelet.service.d

# What kubeadm writes to /var/lib/kubelet/config.yaml (staticPodPath, cgroupDriver, cluster
# DNS, healthz), with the API-server parts made standalone:
#  - authentication.webhook and authorization mode Webhook need an API client; without
#    --kubeconfig the kubelet has none and refuses to start with "no client provided, cannot
#    use webhook authentication" (kubernetes/kubernetes cmd/kubelet/app/auth.go, BuildAuthn
#    and BuildAuthz). So webhook off, anonymous off (nothing may call the kubelet's API
#    unauthenticated), authorization AlwaysAllow, as kubernetes/website's
#    setup-ha-etcd-with-kubeadm.md runs its standalone kubelet;
#  - no x509 clientCAFile: kubeadm's points at the cluster CA, which a standalone node lacks;
#  - containerRuntimeEndpoint in the file (the --container-runtime-endpoint flag is
#    deprecated in its favour);
#  - cgroupDriver systemd matches containerd's SystemdCgroup = true (common.sh).
resolv_conf=/etc/resolv.conf
# kubeadm points the kubelet at systemd-resolved's upstream file where resolved runs
# (kubernetes/kubernetes cmd/kubeadm/app/componentconfigs/kubelet_unix.go, mutateResolverConfig).
if systemctl is-active --quiet systemd-resolved && [ -f /run/systemd/resolve/resolv.conf ]; then
  resolv_conf=/run/systemd/resolve/resolv.conf
fi
cat > /var/lib/kubelet/config.yaml <<CFG
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
cgroupDriver: systemd
clusterDNS:
- 10.96.0.10
clusterDomain: cluster.local
containerRuntimeEndpoint: ${CONTAINERD_SOCK}
healthzBindAddress: 127.0.0.1
healthzPort: 10248
resolvConf: ${resolv_conf}
staticPodPath: /etc/kubernetes/manifests
CFG

# kubeadm-flags.env carries the flags kubeadm computes per node; none are needed here.
echo 'KUBELET_KUBEADM_ARGS=""' > /var/lib/kubelet/kubeadm-flags.env

# The standalone drop-in. It sorts after 10-kubeadm.conf (systemd reads drop-ins in file-name
# order across /usr/lib and /etc, and a later Environment= assignment of a variable replaces an
# earlier one: systemd.unit(5), systemd.exec(5)), so KUBELET_KUBECONFIG_ARGS expands to no
# arguments and the packaged ExecStart runs the kubelet without --kubeconfig or
# --bootstrap-kubeconfig: standalone mode, "no API client" (cmd/kubelet/app/server.go).
# Everything else in 10-kubeadm.conf stays as the package ships it, so spctl sees a kubeadm node:
# the drop-in, config.yaml's staticPodPath, KUBELET_EXTRA_ARGS in /etc/default/kubelet (deb)
# or /etc/sysconfig/kubelet (rpm).
cat > /etc/systemd/system/kubelet.service.d/20-standalone.conf <<'DROPIN'
# spctl Vagrant lab: no API server, so no kubeconfig; the kubelet runs static pods only.
[Service]
Environment="KUBELET_KUBECONFIG_ARGS="
DROPIN

systemctl daemon-reload
systemctl enable kubelet
systemctl restart kubelet
wait_kubelet_healthy kubelet
