#!/usr/bin/env bash
# debian13-rootfs.sh DEST: puts a fresh Debian 13 (trixie) root filesystem
# into DEST (which must not exist or be empty), for the deploy rehearsal's
# host booted with systemd-nspawn and for chroots that run `quadlet -dryrun`.
#
# The first run builds it with debootstrap from the Debian mirror apt is
# configured with (about a minute and 1 GB) and caches it as a tarball in
# ${IMMICH_RENDER_CACHE:-/var/cache/immich-render}, named by a hash of this
# script (which holds the package lists); later runs only extract it (a few
# seconds). A tarball no run used for two days goes at the next build. Concurrent runs are safe: the build holds a lock, and a second
# caller waits for it and then extracts the same tarball.
#
# Environment: IMMICH_RENDER_CACHE (cache folder), DEBIAN13_MIRROR (a Debian
# mirror URL; default: the first one in apt's sources). Needs root.
set -euo pipefail

# The packages of the root filesystem. debootstrap installs no Recommends,
# so what Podman, PostgreSQL and the rehearsal need besides is listed in
# extras and installed inside, still without Recommends.
base=systemd,systemd-sysv,dbus,podman,netavark,aardvark-dns,passt,crun,valkey-server,nginx,iproute2,postgresql-17,postgresql-17-pgvector
extras=(
	nftables catatonit containers-storage uidmap runc ca-certificates iptables
	fuse-overlayfs postgresql-client-17 podman-compose valkey-tools
	pebble certbot curl openssl nodejs
)

die() {
	echo "debian13-rootfs: $*" >&2
	exit 1
}

[ $# -eq 1 ] || die "usage: $0 DEST"
dest=$1
[ "$(id -u)" = 0 ] || die "needs root"
if [ -e "$dest" ] && [ -n "$(ls -A "$dest")" ]; then
	die "$dest exists and is not empty"
fi

cache=${IMMICH_RENDER_CACHE:-/var/cache/immich-render}
mkdir -p "$cache"
self=$(readlink -f "$0")
key=$(sha256sum <"$self" | cut -c1-16)
tarball=$cache/debian13-rootfs-$key.tar.zst

# The first Debian mirror in apt's sources (deb822 or one-line format).
mirror() {
	if [ -n "${DEBIAN13_MIRROR:-}" ]; then
		echo "$DEBIAN13_MIRROR"
		return
	fi
	local m
	m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
		awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }')
	if [ -z "$m" ]; then
		m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
			awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/ && $i ~ /\/debian\/?$/) { print $i; exit } }')
	fi
	[ -n "$m" ] || die "no Debian mirror in apt's sources; set DEBIAN13_MIRROR"
	echo "$m"
}

need_tools() {
	local missing=()
	command -v debootstrap >/dev/null || missing+=(debootstrap)
	command -v zstd >/dev/null || missing+=(zstd)
	if [ ${#missing[@]} -gt 0 ]; then
		echo "debian13-rootfs: installing ${missing[*]}" >&2
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq \
			--no-install-recommends "${missing[@]}" >/dev/null
	fi
}

build() {
	local root=$1 m log=$cache/debian13-rootfs-build.log
	m=$(mirror)
	echo "debian13-rootfs: building trixie from $m into $tarball (about a minute)" >&2
	debootstrap --variant=minbase --include="$base" trixie "$root" "$m" >"$log" 2>&1 ||
		{ tail -20 "$log" >&2; die "debootstrap failed (log: $log)"; }
	# Package installs inside must not start services (on the host's network).
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod 755 "$root/usr/sbin/policy-rc.d"
	echo "deb $m trixie main" >"$root/etc/apt/sources.list"
	cp /etc/resolv.conf "$root/etc/resolv.conf"
	mount -t proc proc "$root/proc"
	local rc=0
	{
		chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
			chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
				--no-install-recommends "${extras[@]}" &&
			chroot "$root" apt-get clean
	} >>"$log" 2>&1 || rc=$?
	umount "$root/proc"
	[ $rc = 0 ] || { tail -20 "$log" >&2; die "installing the extras failed (log: $log)"; }
	rm -rf "$root"/var/lib/apt/lists/*
	# A host has a resolver configuration (aardvark-dns refuses to start
	# without one); this one's network is private, its server unreachable.
	echo 'nameserver 192.0.2.53' >"$root/etc/resolv.conf"
	# The host is booted without a network of its own to the outside:
	# services come up by themselves at boot, so the policy goes again.
	rm -f "$root/usr/sbin/policy-rc.d"
	# Podman 5 under systemd-nspawn on these machines: the open-files hard
	# limit is fixed (20000) and the pids cgroup controller is missing.
	mkdir -p "$root/etc/containers/containers.conf.d"
	cat >"$root/etc/containers/containers.conf.d/50-nspawn.conf" <<-'EOF'
		[containers]
		default_ulimits = ["nofile=20000:20000", "nproc=65536:65536"]
		pids_limit = 0
	EOF
	echo debian13 >"$root/etc/hostname"
	: >"$root/etc/machine-id"
	tar --numeric-owner --xattrs --xattrs-include='*' -C "$root" -cf - . |
		zstd -q -T0 -3 -o "$tarball.tmp"
	mv "$tarball.tmp" "$tarball"
}

need_tools
if [ ! -s "$tarball" ]; then
	exec 9>"$cache/debian13-rootfs.lock"
	flock 9
	if [ ! -s "$tarball" ]; then
		work=$(mktemp -d "$cache/build.XXXXXX")
		trap 'umount "$work/root/proc" 2>/dev/null || true; rm -rf "$work"' EXIT
		build "$work/root"
		rm -rf "$work"
		trap - EXIT
		# Tarballs of other versions of this script that nothing used for
		# two days are stale (another checkout may still use a recent one).
		find "$cache" -maxdepth 1 -name 'debian13-rootfs-*.tar.zst' ! -name "${tarball##*/}" -mtime +2 -delete
	fi
	exec 9>&-
fi
touch "$tarball"

mkdir -p "$dest"
zstd -q -d -c "$tarball" | tar --numeric-owner --xattrs --xattrs-include='*' -C "$dest" -xf -
