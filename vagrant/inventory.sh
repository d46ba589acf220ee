#!/usr/bin/env bash
# Write spctl.yaml and ssh_config for the Vagrant VMs (run after `vagrant up`).
# Host keys are not known yet: the first spctl run needs --host-key-policy accept-new,
# which records them in ./known_hosts; later runs verify them.
set -euo pipefail
cd "$(dirname "$0")"
vagrant ssh-config > ssh_config
{
  echo "# Written by vagrant/inventory.sh for the Vagrant lab (real kubelets)."
  echo "templates: ../templates"
  echo "defaults:"
  echo "  ssh: {user: vagrant, known_hosts: known_hosts}"
  echo "  vars: {image: docker.io/library/nginx:1.27}"
  echo "  pods: [static-web]"
  echo "nodes:"
  for node in my-node1 my-node2 my-node3 my-node4; do
    host=$(awk -v h="$node" '$1=="Host"{cur=$2} cur==h && $1=="HostName"{print $2}' ssh_config)
    port=$(awk -v h="$node" '$1=="Host"{cur=$2} cur==h && $1=="Port"{print $2}' ssh_config)
    key=$(awk -v h="$node" '$1=="Host"{cur=$2} cur==h && $1=="IdentityFile"{print $2}' ssh_config)
    echo "  $node: {address: $host, ssh: {port: $port, key: $key}}"
  done
} > spctl.yaml
touch known_hosts
echo "wrote vagrant/spctl.yaml; first run: spctl -i vagrant/spctl.yaml status --host-key-policy accept-new" >&2
