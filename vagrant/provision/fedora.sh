#!/usr/bin/env bash
# Fedora's own Kubernetes packages, standalone kubelet on containerd.
#
# The packages (Fedora docs, quick-docs "Versioned Kubernetes RPMS on Fedora"
# (using-kubernetes-versioned) and "Resilient kubelet configuration" (using-kubernetes-kubelet);
# Fedora wiki Changes/VersionedKubernetesPackages; Fedora Magazine "Forthcoming Kubernetes
# Packaging Changes"):
#  - since Fedora 41 one set per Kubernetes minor, with no unversioned default:
#      kubernetes1.NN          the kubelet, /usr/lib/systemd/system/kubelet.service
#      kubernetes1.NN-kubeadm  kubeadm and /usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf
#      kubernetes1.NN-client   kubectl
#      kubernetes1.NN-systemd  units for clusters set up by hand (not needed with kubeadm)
#    Each Fedora release carries only the minors its Go can build, so a release may lack the
#    newest one; the packages of different minors conflict with one another.
#  - "Versioned rpms use the configuration file method" for the kubelet (a --config file), and
#    their unit files are "largely consistent" with the Kubernetes project's; the legacy
#    unversioned packages (kubernetes-node, Fedora 40 and older) pass flags: KUBELET_ARGS and
#    friends in /etc/kubernetes/kubelet, plus /etc/kubernetes/config, read as environment files
#    by kubelet.service. That legacy layout is the seed walkthrough's.
# The spec file itself (src.fedoraproject.org rpms/kubernetes1.NN) was not readable from where
# this was written, so this script does not assume which layout the installed package has: it
# reads the unit systemd loaded, and
#  - when kubelet.service reads /etc/kubernetes/kubelet (the legacy layout), writes the seed's
#    node there: cluster DNS flags, no manifest path yet;
#  - otherwise (the configuration-file layout) writes a standalone kubelet configuration file,
#    without staticPodPath, and records that in /etc/spctl-lab-layout; README.md says what spctl
#    sees on such a node. FEDORA_LAYOUT=seed recreates the seed's layout with a drop-in instead.
set -euxo pipefail
# shellcheck source=common.sh
. "${PROVISION_DIR:-/vagrant/provision}/common.sh"
: "${K8S_MINOR:?K8S_MINOR (e.g. 1.34) is set by the Vagrantfile}"
FEDORA_LAYOUT="${FEDORA_LAYOUT:-auto}"
case "$FEDORA_LAYOUT" in
  auto | seed) ;;
  *) echo "${SPCTL_LAB_PREFIX}: FEDORA_LAYOUT must be auto or seed, not '${FEDORA_LAYOUT}'" >&2; exit 2 ;;
esac

# The first of the named packages the enabled repositories have.
first_available() {
  local pkg
  for pkg in "$@"; do
    if dnf -q list --available "$pkg" >/dev/null 2>&1 || rpm -q "$pkg" >/dev/null 2>&1; then
      echo "$pkg"
      return 0
    fi
  done
  return 1
}

# kubernetes1.NN for the requested minor, else the newest kubernetes1.NN this release has,
# else the legacy kubernetes-node (Fedora 40 and older).
# repoquery's default output is name-epoch:version-release.arch in dnf 4 and dnf 5 alike.
newest_versioned=$(dnf -q repoquery --available 'kubernetes1.*' 2>/dev/null \
  | sed -E 's/-[0-9]+:.*$//' | grep -E '^kubernetes1\.[0-9]+$' | sort -uV | tail -n 1 || true)
kubelet_pkg=$(first_available "kubernetes${K8S_MINOR}" ${newest_versioned:+"$newest_versioned"} kubernetes-node) || {
  echo "${SPCTL_LAB_PREFIX}: no kubernetes1.NN or kubernetes-node package in this Fedora's repositories" >&2
  exit 1
}
if [ "$kubelet_pkg" != "kubernetes${K8S_MINOR}" ]; then
  echo "${SPCTL_LAB_PREFIX}: this Fedora has no kubernetes${K8S_MINOR}; installing ${kubelet_pkg}" >&2
fi
# crictl: a cri-tools1.NN matching the kubelet if this release versions cri-tools too, else
# cri-tools.
crictl_pkg=$(first_available "cri-tools${kubelet_pkg#kubernetes}" cri-tools) || crictl_pkg=cri-tools

# SELinux permissive, as for the other rpm node (the kubeadm install guide does the same).
setenforce 0 || true
sed -i 's/^SELINUX=enforcing/SELINUX=permissive/' /etc/selinux/config
# iptables: the bridge plugin's ipMasq (and portmap) use it, nftables only where iptables is
# missing and the plugins are new enough (containernetworking/plugins pkg/ip/ipmasq_linux.go,
# SetupIPMasqForNetworks); a cloud image need not have it.
dnf install -y python3 curl iptables-nft containerd containernetworking-plugins "$crictl_pkg" "$kubelet_pkg"

bin_dir=$(cni_bin_dir)
# No kubeadm on this node to name the pause image: containerd's default sandbox image.
configure_containerd "$bin_dir"
write_cni_conflist "$bin_dir"
write_crictl_config

# A unit that Requires= docker or CRI-O (the legacy kubelet.service required docker.service)
# would not start on this containerd node, and a drop-in cannot remove a dependency
# (systemd.unit(5): dependency lists cannot be reset): the unit is copied to /etc with that
# dependency on containerd instead, every other line as packaged.
fragment=$(systemctl show -P FragmentPath kubelet.service)
if grep -Eq '^(Requires|BindsTo)=.*(docker|crio)\.service' "$fragment"; then
  sed -E '/^(Requires|BindsTo)=/ s/(docker|crio)\.service/containerd.service/g' "$fragment" > /etc/systemd/system/kubelet.service.tmp
  mv /etc/systemd/system/kubelet.service.tmp /etc/systemd/system/kubelet.service
  systemctl daemon-reload
fi
unit_text=$(systemctl cat kubelet.service)
if grep -q '^EnvironmentFile=-\?/etc/kubernetes/kubelet$' <<<"$unit_text"; then
  packaged=legacy
else
  packaged=config-file
fi
layout=$packaged
if [ "$FEDORA_LAYOUT" = seed ]; then
  layout=legacy
fi

# The seed walkthrough's node before spctl: cluster DNS flags, no manifest path. Flags only, no
# --config, so the kubelet starts from its legacy flag defaults (anonymous auth on, webhook
# off, AlwaysAllow: kubernetes/kubernetes cmd/kubelet/app/options/options.go,
# applyLegacyDefaults), which need no API server; no --kubeconfig, so it runs standalone.
write_seed_layout() {
  mkdir -p /etc/kubernetes
  local f
  for f in /etc/kubernetes/config /etc/kubernetes/kubelet; do
    if [ -f "$f" ] && [ ! -f "$f.rpm-default" ]; then
      cp -p "$f" "$f.rpm-default"
    fi
  done
  # The legacy /etc/kubernetes/config set KUBE_LOGTOSTDERR="--logtostderr=true", a flag the
  # kubelet dropped in 1.26 (it exits on an unknown flag), and KUBE_ALLOW_PRIV
  # ("--allow-privileged", gone since 1.15); only the log level stays.
  cat > /etc/kubernetes/config <<'CONFIG'
# Read by kubelet.service as an environment file (Fedora's legacy layout).
KUBE_LOG_LEVEL="--v=0"
CONFIG
  cat > /etc/kubernetes/kubelet <<ENV
# Read by kubelet.service as an environment file (Fedora's legacy layout, the seed's node).
KUBELET_ADDRESS="--address=127.0.0.1"
KUBELET_HOSTNAME="--hostname-override=$(hostname)"
KUBELET_ARGS="--cluster-dns=10.254.0.10 --cluster-domain=kube.local --container-runtime-endpoint=${CONTAINERD_SOCK} --cgroup-driver=systemd"
ENV
}

# A standalone kubelet configuration file: what kubeadm-config.sh writes for the kubeadm
# nodes, without staticPodPath (the node before spctl) and with the seed's cluster DNS.
standalone_config() {
  cat <<CFG
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
- 10.254.0.10
clusterDomain: kube.local
containerRuntimeEndpoint: ${CONTAINERD_SOCK}
healthzBindAddress: 127.0.0.1
healthzPort: 10248
CFG
}

mkdir -p /etc/systemd/system/kubelet.service.d
config_file=""
if [ "$layout" = legacy ]; then
  write_seed_layout
  if [ "$packaged" != legacy ]; then
    # FEDORA_LAYOUT=seed on a configuration-file package: the legacy unit's environment files
    # and command line, recreated by a drop-in.
    cat > /etc/systemd/system/kubelet.service.d/20-seed-layout.conf <<'DROPIN'
# spctl Vagrant lab: the seed walkthrough's layout (Fedora's legacy kubelet.service).
[Service]
EnvironmentFile=-/etc/kubernetes/config
EnvironmentFile=-/etc/kubernetes/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBE_LOGTOSTDERR $KUBE_LOG_LEVEL $KUBELET_ADDRESS $KUBELET_PORT $KUBELET_HOSTNAME $KUBELET_ARGS
DROPIN
  fi
else
  # The --config file the packaged unit names, if it names one, else one of ours; either way
  # a drop-in makes it the kubelet's only setting, so that nothing the package passes (a
  # kubeconfig, a bootstrap kubeconfig) has it look for an API server.
  config_file=$(grep -o -- '--config[= ][^ "]*' <<<"$unit_text" | head -n 1 | sed 's/^--config[= ]//' || true)
  if [ -z "$config_file" ] || [ "${config_file#\$}" != "$config_file" ]; then
    config_file=/etc/kubernetes/kubelet-config.yaml
  fi
  if [ -f "$config_file" ] && [ ! -f "$config_file.rpm-default" ]; then
    cp -p "$config_file" "$config_file.rpm-default"
  fi
  mkdir -p "$(dirname "$config_file")"
  standalone_config > "$config_file"
  cat > /etc/systemd/system/kubelet.service.d/20-standalone.conf <<DROPIN
# spctl Vagrant lab: no API server; the kubelet reads only this configuration file.
[Service]
ExecStart=
ExecStart=/usr/bin/kubelet --config=${config_file}
DROPIN
fi
cat > /etc/spctl-lab-layout <<LAYOUT
package=${kubelet_pkg}
packaged_layout=${packaged}
layout=${layout}
config_file=${config_file:-}
LAYOUT
echo "${SPCTL_LAB_PREFIX}: ${kubelet_pkg}: packaged layout ${packaged}, node set up as ${layout}"

systemctl daemon-reload
systemctl enable kubelet
systemctl restart kubelet
wait_kubelet_healthy kubelet
