#!/usr/bin/env bash
# What can be checked of the Vagrant lab without Vagrant, a hypervisor or the network
# (`make vagrant-check` runs this):
#  1. the Vagrantfile parses (ruby -c) and, loaded against a stand-in for Vagrant's
#     configuration API (check/vagrantfile.rb), declares four machines with distinct
#     hostnames and addresses whose provisioning scripts exist;
#  2. the provisioning scripts, inventory.sh and this script pass shellcheck;
#  3. containerd reads the configuration the VMs get as meant (`containerd config dump`:
#     SystemdCgroup, sandbox image, CNI directories), and the CNI conflist is the intended
#     bridge/host-local network, with portmap only where the plugin exists;
#  4. inventory.sh, fed recorded `vagrant ssh-config` output, writes an inventory that spctl's
#     own loader accepts (`spctl inventory`) with the addresses, ports, users and keys of that
#     output, whose pods render and validate (`spctl validate`); and it refuses output that
#     lacks a host's port, or has no hosts.
# The recorded outputs (check/ssh-config.*) are Vagrant's template
# (hashicorp/vagrant templates/commands/ssh_config/config.erb at 35f3160, rendered as
# `vagrant ssh-config` does) for a VirtualBox run (NAT ports, one box still on Vagrant's two
# insecure keys) and a libvirt run from a directory whose path has a space.
#
# Needs ruby, shellcheck and containerd (Debian packages of those names): installed with
# apt-get when missing and run as root, as scripts/host-deps.sh installs the lab's tools.
# SPCTL names the spctl to use (default: the repository's .venv/bin/spctl).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
SPCTL="${SPCTL:-$root/.venv/bin/spctl}"
PYTHON="${PYTHON:-python3}"

need=()
command -v ruby >/dev/null 2>&1 || need+=(ruby)
command -v shellcheck >/dev/null 2>&1 || need+=(shellcheck)
command -v containerd >/dev/null 2>&1 || need+=(containerd)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "vagrant-check: need ${need[*]}; run as root, or: apt-get install ${need[*]}" >&2
    exit 1
  fi
  echo "vagrant-check: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ ! -x "$SPCTL" ]; then
  echo "vagrant-check: no spctl at $SPCTL (run 'make venv', or set SPCTL)" >&2
  exit 1
fi

echo "== Vagrantfile"
ruby -c "$here/Vagrantfile"
ruby "$here/check/vagrantfile.rb" "$here/Vagrantfile"

echo "== shellcheck"
(cd "$here" && shellcheck -x -P SCRIPTDIR provision/*.sh inventory.sh check.sh)
echo "shellcheck: provisioning scripts, inventory.sh and check.sh are clean"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== containerd and CNI configuration"
mkdir -p "$work/cni-full" "$work/cni-bare"
for plugin in bridge host-local loopback portmap; do
  install -m 755 /dev/null "$work/cni-full/$plugin"
done
for plugin in bridge host-local loopback; do
  install -m 755 /dev/null "$work/cni-bare/$plugin"
done
(
  # shellcheck disable=SC2034 # read by common.sh
  SPCTL_LAB_FUNCTIONS_ONLY=1
  # shellcheck source=provision/common.sh
  . "$here/provision/common.sh"
  containerd_config "$work/cni-full" registry.k8s.io/pause:3.10.1 > "$work/with-sandbox.toml"
  containerd_config "$work/cni-bare" > "$work/without-sandbox.toml"
  cni_conflist "$work/cni-full" > "$work/full.conflist"
  cni_conflist "$work/cni-bare" > "$work/bare.conflist"
)
containerd --config "$work/with-sandbox.toml" config dump > "$work/with-sandbox.dump"
containerd --config "$work/without-sandbox.toml" config dump > "$work/without-sandbox.dump"
"$PYTHON" - "$work" <<'PY'
import json, sys
try:
    import tomllib
except ImportError:  # Python < 3.11: pip's vendored copy
    from pip._vendor import tomli as tomllib
work = sys.argv[1]
errors = []
def cri(name):
    with open("%s/%s.dump" % (work, name), "rb") as f:
        return tomllib.load(f)["plugins"]["io.containerd.grpc.v1.cri"]
for name, bin_dir, sandbox in (
    ("with-sandbox", work + "/cni-full", "registry.k8s.io/pause:3.10.1"),
    ("without-sandbox", work + "/cni-bare", None),
):
    c = cri(name)
    opts = c["containerd"]["runtimes"]["runc"]["options"]
    if opts.get("SystemdCgroup") is not True:
        errors.append("%s: SystemdCgroup is %r" % (name, opts.get("SystemdCgroup")))
    if c["containerd"]["runtimes"]["runc"].get("runtime_type") != "io.containerd.runc.v2":
        errors.append("%s: runc runtime_type %r" % (name, c["containerd"]["runtimes"]["runc"].get("runtime_type")))
    if (c["cni"]["bin_dir"], c["cni"]["conf_dir"]) != (bin_dir, "/etc/cni/net.d"):
        errors.append("%s: cni dirs %r" % (name, c["cni"]))
    if sandbox and c["sandbox_image"] != sandbox:
        errors.append("%s: sandbox_image %r" % (name, c["sandbox_image"]))
    if not sandbox and not c["sandbox_image"].startswith("registry.k8s.io/pause:"):
        errors.append("%s: default sandbox_image %r" % (name, c["sandbox_image"]))
for name, want in (("full", ["bridge", "portmap"]), ("bare", ["bridge"])):
    conf = json.load(open("%s/%s.conflist" % (work, name)))
    types = [p["type"] for p in conf["plugins"]]
    if types != want:
        errors.append("%s.conflist: plugins %r, want %r" % (name, types, want))
    bridge = conf["plugins"][0]
    if bridge.get("ipam", {}).get("type") != "host-local" or not bridge.get("isGateway") or not bridge.get("ipMasq"):
        errors.append("%s.conflist: bridge %r" % (name, bridge))
    if conf.get("cniVersion") != "1.0.0":
        errors.append("%s.conflist: cniVersion %r" % (name, conf.get("cniVersion")))
if errors:
    sys.exit("\n".join(errors))
PY
echo "containerd $(containerd --version | awk '{print $3}') reads the lab's configuration as meant; the conflists are valid"

echo "== inventory.sh"

# inventory.sh on SAMPLE must give spctl these nodes: "name address port user key" per line.
check_inventory() {
  local sample=$1 expected=$2 out
  out="$work/$sample"
  VAGRANT_SSH_CONFIG="$here/check/$sample" OUT_DIR="$out" "$here/inventory.sh" 2>/dev/null
  "$SPCTL" -i "$out/spctl.yaml" inventory -o json > "$out/inventory.json"
  "$PYTHON" - "$out/inventory.json" "$expected" "$out" "$root/templates" <<'PY'
import json, sys
inv = json.load(open(sys.argv[1]))
out, templates = sys.argv[3], sys.argv[4]
want = [line.split("|") for line in sys.argv[2].strip().splitlines()]
got = [
    [n["name"], n["address"], str(n["ssh"]["port"]), n["ssh"]["user"], n["ssh"]["key"]]
    for n in inv["nodes"]
]
errors = []
if got != want:
    errors.append("nodes differ:\n  want %r\n  got  %r" % (want, got))
for n in inv["nodes"]:
    if n["ssh"]["known_hosts"] != out + "/known_hosts":
        errors.append("%s: known_hosts %r" % (n["name"], n["ssh"]["known_hosts"]))
    if [p["template"] for p in n["pods"]] != [templates + "/static-web.yaml.j2"]:
        errors.append("%s: pods %r" % (n["name"], n["pods"]))
if errors:
    sys.exit("\n".join(errors))
PY
  "$SPCTL" -i "$out/spctl.yaml" validate
  echo "inventory.sh on $sample: a valid spctl inventory of $(grep -c . <<<"$expected") nodes"
}

vb=/home/dev/src/spctl/vagrant/.vagrant/machines
check_inventory ssh-config.virtualbox "\
my-node1|127.0.0.1|2222|vagrant|$vb/my-node1/virtualbox/private_key
my-node2|127.0.0.1|2200|vagrant|$vb/my-node2/virtualbox/private_key
my-node3|127.0.0.1|2201|vagrant|$vb/my-node3/virtualbox/private_key
my-node4|127.0.0.1|2202|vagrant|/home/dev/.vagrant.d/insecure_private_keys/vagrant.key.ed25519"

lv="/home/dev/My Projects/spctl/vagrant/.vagrant/machines"
check_inventory ssh-config.libvirt-spaces "\
my-node1|192.168.121.101|22|vagrant|$lv/my-node1/libvirt/private_key
my-node2|192.168.121.102|22|vagrant|$lv/my-node2/libvirt/private_key
my-node3|192.168.121.103|22|vagrant|$lv/my-node3/libvirt/private_key
my-node4|192.168.121.104|22|vagrant|$lv/my-node4/libvirt/private_key"

# Output it cannot turn into an inventory must fail, not write one.
refuse() {
  local what=$1 out="$work/refused-$2" reason=$3
  if VAGRANT_SSH_CONFIG="$work/$2" OUT_DIR="$out" "$here/inventory.sh" 2>"$work/$2.err"; then
    echo "vagrant-check: inventory.sh accepted $what" >&2
    exit 1
  fi
  if ! grep -qF -- "$reason" "$work/$2.err"; then
    echo "vagrant-check: inventory.sh refused $what without saying '$reason': $(cat "$work/$2.err")" >&2
    exit 1
  fi
  if [ -e "$out/spctl.yaml" ]; then
    echo "vagrant-check: inventory.sh wrote spctl.yaml from $what" >&2
    exit 1
  fi
  echo "inventory.sh refuses $what: $(cat "$work/$2.err")"
}
grep -v '^  Port 2201$' "$here/check/ssh-config.virtualbox" > "$work/no-port"
refuse "a host without a port" no-port "host my-node3 has no port"
: > "$work/empty"
refuse "output with no hosts" empty "no Host entries"

echo "vagrant-check: all checks passed (nothing here boots a VM; see vagrant/README.md)"
