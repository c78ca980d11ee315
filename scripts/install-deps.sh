#!/usr/bin/env bash
# Installs the real consumers the tests run against (Debian 12 packages):
# valkey-server 8 (bookworm-backports) and redis-server, PostgreSQL 15, nginx, podman and
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
have flock || need+=(util-linux) # apply.sh's one-run-at-a-time lock
# The fault-injection suite (internal/output): tmpfs mounts, chattr +i,
# and the CLI scripts' FIFOs and generated bombs.
have mount || need+=(mount)
have chattr || need+=(e2fsprogs)
have mkfifo || need+=(coreutils)
have awk || need+=(mawk)
# The secrets warnings ask git whether it ignores a folder.
have git || need+=(git)
# Every rendered shell script is checked by shellcheck in the tests.
have shellcheck || need+=(shellcheck)
have curl || need+=(curl)
# promtool checks the Prometheus scrape fragment.
have promtool || need+=(prometheus)
# The Debian 13 host of the rehearsal: debootstrap builds its root
# filesystem (scripts/debian13-rootfs.sh, cached as a zstd tarball) and
# systemd-nspawn boots it. pebble and certbot run inside it (trixie's).
have debootstrap || have /usr/sbin/debootstrap || need+=(debootstrap)
have zstd || need+=(zstd)
have rsync || need+=(rsync) # the output README's copy commands, run verbatim
have systemd-nspawn || need+=(systemd-container)
# Valkey 8 (Debian 12: 8.0.1 from bookworm-backports, without touching core
# libraries): the ACL command table's server, the Debian 12 rehearsal's
# Valkey, apply.sh and the "user" ACL mode are tested against it.
backports=()
if ! have valkey-server || ! have valkey-cli; then
	backports=(valkey-server valkey-tools)
fi

if [ ${#need[@]} -eq 0 ] && [ ${#backports[@]} -eq 0 ]; then
	exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
	sudo="sudo"
fi
echo "install-deps: installing ${need[*]} ${backports[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if [ ${#backports[@]} -gt 0 ] && ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
	mirror=$(awk '/^URIs:/ && $2 ~ /\/debian\/?$/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
	[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $2 ~ /\/debian\/?$/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
	[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
	printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$mirror" |
		$sudo tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null
fi
$sudo apt-get -o DPkg::Lock::Timeout=900 update -qq
# Services must not start on install: tests start their own on loopback.
printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
$sudo chmod +x /usr/sbin/policy-rc.d
trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
if [ ${#need[@]} -gt 0 ]; then
	$sudo apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ ${#backports[@]} -gt 0 ]; then
	$sudo apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends -t bookworm-backports "${backports[@]}" >/dev/null
fi
