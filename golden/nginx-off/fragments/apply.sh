#!/bin/sh
# Rendered by immich-render. Do not edit: change the configuration and render again.
# Merges the fragments next to this script into a Debian host's
# PostgreSQL and Valkey configuration. Idempotent: run it again after
# every render. Run as root, then restart PostgreSQL and Valkey.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=${IMMICH_RENDER_ROOT:-}

# PostgreSQL: settings as a drop-in that postgresql.conf includes last,
# client lines at the top of pg_hba.conf.
found=
for main in "$root"/etc/postgresql/*/main; do
	[ -f "$main/pg_hba.conf" ] || continue
	found=1
	mkdir -p "$main/conf.d"
	cp "$here/postgresql/postgresql.conf" "$main/conf.d/immich-render.conf"
	grep -v -e '^#' -e '^$' "$here/postgresql/pg_hba.conf" | while IFS= read -r line; do
		if ! grep -qxF "$line" "$main/pg_hba.conf"; then
			tmp="$main/pg_hba.conf.immich-render"
			cp -p "$main/pg_hba.conf" "$tmp"
			{ printf '%s\n' "$line"; cat "$main/pg_hba.conf"; } >"$tmp"
			mv "$tmp" "$main/pg_hba.conf"
		fi
	done
done
[ -n "$found" ] || echo "apply.sh: no $root/etc/postgresql/*/main/pg_hba.conf: merge fragments/postgresql by hand" >&2

# Valkey (or redis-server): the fragment next to the configuration, included last.
found=
for conf in "$root"/etc/valkey/valkey.conf "$root"/etc/redis/redis.conf; do
	[ -f "$conf" ] || continue
	found=1
	dir=$(dirname "$conf")
	cp "$here/valkey/valkey.conf" "$dir/immich-render.conf"
	line="include ${dir#"$root"}/immich-render.conf"
	grep -qxF "$line" "$conf" || printf '%s\n' "$line" >>"$conf"
done
[ -n "$found" ] || echo "apply.sh: no valkey.conf or redis.conf: merge fragments/valkey by hand" >&2

# Both servers listen on the address the containers reach the host at (the
# Immich network's gateway), which Podman puts on its bridge only when a
# container attaches: let them bind it at boot, before it exists. Applied
# at boot by systemd-sysctl, before PostgreSQL and Valkey start.
mkdir -p "$root/etc/sysctl.d"
echo 'net.ipv4.ip_nonlocal_bind = 1' >"$root/etc/sysctl.d/60-immich-render.conf"
if [ -z "$root" ]; then
	sysctl -q -p /etc/sysctl.d/60-immich-render.conf
fi
