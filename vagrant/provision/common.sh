#!/usr/bin/env bash
# Shared by every VM: swap off (the kubelet refuses to run with swap by default), kernel
# settings, and python3 for spctl's agent.
set -euxo pipefail
swapoff -a || true
sed -i '/\sswap\s/d' /etc/fstab
modprobe br_netfilter || true
sysctl -w net.ipv4.ip_forward=1
