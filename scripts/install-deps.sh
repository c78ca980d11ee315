#!/usr/bin/env bash
# Installs the real consumers the tests run against (Debian 12 packages):
# redis-server (Valkey's ACL file syntax), PostgreSQL 15, nginx, podman and
# podman-compose, cloud-init, systemd-analyze, ansible (the oracle of
# 'immich-render import ansible'), what the deploy rehearsal needs besides
# (runc, the CNI dnsname plugin), and node with npm. Idempotent and quiet
# when everything is there; needs root (or sudo) only when something is
# missing.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "$1" ]; }
have redis-server || need+=(redis-server)
have nginx || have /usr/sbin/nginx || need+=(nginx)
have podman || need+=(podman)
have podman-compose || need+=(podman-compose)
have cloud-init || need+=(cloud-init)
have systemd-analyze || need+=(systemd)
have /usr/lib/postgresql/15/bin/postgres || need+=(postgresql-15 postgresql-contrib)
have psql || need+=(postgresql-client-15)
have patch || need+=(patch)
have diff || need+=(diffutils)
have ansible-inventory || need+=(ansible)
# Immich's own Redis libraries (internal/rehearsal/immichredis) and
# TypeScript's parser for the settings generator's test run on node; npm
# installs their pinned versions (package-lock.json) from the registry.
have node || need+=(nodejs)
have npm || need+=(npm)
# The deploy rehearsal: rootful containers need runc here (crun fails on
# this machine kind's cgroups), container name resolution on Podman 4.3's
# CNI needs the dnsname plugin, and the host setup needs ip and openssl.
have runc || need+=(runc)
have /usr/lib/cni/dnsname || need+=(golang-github-containernetworking-plugin-dnsname)
have ip || need+=(iproute2)
have openssl || need+=(openssl)
have unshare || need+=(util-linux)

if [ ${#need[@]} -eq 0 ]; then
	exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
	sudo="sudo"
fi
echo "install-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get -o DPkg::Lock::Timeout=900 update -qq
# Services must not start on install: tests start their own on loopback.
printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
$sudo chmod +x /usr/sbin/policy-rc.d
trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
$sudo apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
