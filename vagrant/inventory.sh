#!/usr/bin/env bash
# Write spctl.yaml and ssh_config for the Vagrant VMs (run after `vagrant up`).
#
#   ./inventory.sh                       # asks `vagrant ssh-config`, writes next to this script
#   VAGRANT_SSH_CONFIG=FILE OUT_DIR=DIR ./inventory.sh
#                                        # reads a saved `vagrant ssh-config` output instead,
#                                        # writes into DIR (how `make vagrant-check` tests it)
#
# Every host `vagrant ssh-config` reports becomes a node, with its address, port, user and
# first identity file. The output format is Vagrant's template
# (hashicorp/vagrant templates/commands/ssh_config/config.erb): "Host NAME" then indented
# "Keyword value" lines, IdentityFile in double quotes when its path has a space. Keywords
# are matched case-insensitively, as ssh_config(5) does.
# Host keys are not known yet: the first spctl run needs --host-key-policy accept-new, which
# records them in known_hosts next to spctl.yaml; later runs verify them.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out_dir="${OUT_DIR:-$here}"
mkdir -p "$out_dir"
out_dir="$(cd "$out_dir" && pwd)"

ssh_config="$out_dir/ssh_config"
if [ -n "${VAGRANT_SSH_CONFIG:-}" ]; then
  if [ "$(realpath "$VAGRANT_SSH_CONFIG")" != "$(realpath -m "$ssh_config")" ]; then
    cp "$VAGRANT_SSH_CONFIG" "$ssh_config"
  fi
else
  (cd "$here" && vagrant ssh-config) > "$ssh_config"
fi

# One line per host: name, HostName, Port, User, first IdentityFile, separated by the ASCII
# unit separator (not whitespace, so that `read` keeps an empty field as empty).
hosts=$(awk '
  function flush() {
    if (host != "") printf "%s\037%s\037%s\037%s\037%s\n", host, hostname, port, user, key
  }
  {
    sub(/\r$/, "")
    keyword = tolower($1)
    value = $0
    sub(/^[ \t]*[^ \t]+[ \t]+/, "", value)
    sub(/[ \t]+$/, "", value)
    if (value ~ /^".*"$/) value = substr(value, 2, length(value) - 2)
  }
  keyword == "host" { flush(); host = value; hostname = ""; port = ""; user = ""; key = ""; next }
  keyword == "hostname" { hostname = value }
  keyword == "port" { port = value }
  keyword == "user" { user = value }
  keyword == "identityfile" && key == "" { key = value }
  END { flush() }
' "$ssh_config")

if [ -z "$hosts" ]; then
  echo "inventory.sh: no Host entries in $ssh_config (is any VM running? try 'vagrant status')" >&2
  exit 1
fi

# A YAML double-quoted scalar: backslashes and double quotes escaped.
yaml_str() {
  local s=${1//\\/\\\\}
  printf '"%s"' "${s//\"/\\\"}"
}

tmp="$out_dir/spctl.yaml.tmp"
trap 'rm -f "$tmp"' EXIT
{
  echo "# Written by vagrant/inventory.sh for the Vagrant lab (real kubelets). Paths are absolute"
  echo "# so that the file works from any directory; it is rewritten on each run."
  echo "templates: $(yaml_str "$(cd "$here/.." && pwd)/templates")"
  echo "defaults:"
  echo "  ssh: {known_hosts: $(yaml_str "$out_dir/known_hosts")}"
  echo "  vars: {image: \"docker.io/library/nginx:1.27\"}"
  echo "  pods: [static-web]"
  echo "  labels: {lab: vagrant}"
  echo "nodes:"
  while IFS=$'\037' read -r name hostname port user key; do
    for field in hostname port user key; do
      if [ -z "${!field}" ]; then
        echo "inventory.sh: host $name has no ${field} in $ssh_config" >&2
        exit 1
      fi
    done
    case "$port" in
      *[!0-9]*) echo "inventory.sh: host $name: port '$port' is not a number" >&2; exit 1 ;;
    esac
    echo "  $(yaml_str "$name"):"
    echo "    address: $(yaml_str "$hostname")"
    echo "    ssh: {user: $(yaml_str "$user"), port: $port, key: $(yaml_str "$key")}"
  done <<<"$hosts"
} > "$tmp"
mv "$tmp" "$out_dir/spctl.yaml"
touch "$out_dir/known_hosts"
echo "wrote $out_dir/spctl.yaml ($(wc -l <<<"$hosts") nodes); first run: spctl -i $out_dir/spctl.yaml status --host-key-policy accept-new" >&2
