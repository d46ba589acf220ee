#!/usr/bin/env bash
# Install and start what spctl's lab needs on a Debian machine: Docker's engine (Debian's
# docker.io), debootstrap (node image), busybox-static (pod image), containerd (the CRI runtime
# the agent's CRI client is tested against), openssh-client (ssh-keygen, for tests), journalctl
# and systemd-journal-remote (the agent's journal reading, for tests).
# Idempotent; run as root.
set -euo pipefail

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx httpd || need+=(busybox-static)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
command -v containerd >/dev/null 2>&1 && command -v ctr >/dev/null 2>&1 || need+=(containerd)
# ssh-keygen makes the CA-signed host certificates of the unit tests.
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
# journalctl reads, and systemd-journal-remote writes, the journal file of the unit tests of
# the agent's reading of the kubelet's journal (no running journald needed).
command -v journalctl >/dev/null 2>&1 || need+=(systemd)
[ -x /lib/systemd/systemd-journal-remote ] || need+=(systemd-journal-remote)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "spctl: need ${need[*]}; run 'make deps' as root or install them yourself" >&2
    exit 1
  fi
  echo "spctl: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# systemd in many containers exhausts the default of 128 inotify instances.
if [ "$(id -u)" -eq 0 ]; then
  [ "$(cat /proc/sys/fs/inotify/max_user_instances)" -ge 8192 ] || sysctl -qw fs.inotify.max_user_instances=8192
  [ "$(cat /proc/sys/fs/inotify/max_user_watches)" -ge 1048576 ] || sysctl -qw fs.inotify.max_user_watches=1048576
fi

# A Docker engine: use the one DOCKER_HOST names or the local socket; start dockerd if none answers.
if ! docker version >/dev/null 2>&1; then
  if [ -n "${DOCKER_HOST:-}" ]; then
    echo "spctl: no Docker engine answers at DOCKER_HOST=$DOCKER_HOST" >&2
    exit 1
  fi
  echo "spctl: starting dockerd (log: /var/log/spctl-dockerd.log)" >&2
  nohup dockerd >/var/log/spctl-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker version >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker version >/dev/null 2>&1 || { echo "spctl: dockerd did not start; see /var/log/spctl-dockerd.log" >&2; exit 1; }
fi
