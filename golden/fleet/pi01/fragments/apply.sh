#!/bin/sh
# Rendered by immich-render. Do not edit: change the configuration and render again.
#
# Merges what Immich needs into a Debian host's PostgreSQL and Valkey
# configuration, keeping other tenants' values (the README says how).
# IMMICH_RENDER_ROOT prefixes every host path (for tests).
set -eu

usage='usage: apply.sh [--dry-run | --undo]'
mode=apply
case "$*" in
'') ;;
--dry-run) mode=dry-run ;;
--undo) mode=undo ;;
-h | --help) echo "$usage" && exit 0 ;;
*) echo "$usage" >&2 && exit 2 ;;
esac

# What Immich needs.
pg_port='5432'
pg_listen='localhost,172.20.0.1'
pg_preload='vchord.so'
valkey_port='6379'
valkey_bind='127.0.0.1 -::1 172.20.0.1'
# "" with valkey.aclMode "user": the host's aclfile stays.
valkey_aclfile='/etc/valkey/users.acl'

root=${IMMICH_RENDER_ROOT:-}
here=$(cd "$(dirname "$0")" && pwd)
state=$root/var/lib/immich-render/apply-undo

say() { printf 'apply.sh: %s\n' "$*"; }
fail() {
	printf 'apply.sh: %s\n' "$*" >&2
	printf 'apply.sh: nothing changed\n' >&2
	exit 1
}
host() { printf '%s\n' "${1#"$root"}"; }

# One run at a time (an operator's and cloud-init's, two deploys): each
# reads the host's files, merges and keeps the originals for --undo, and
# two at once would interleave those steps. The lock goes with the
# process; /run empties at boot.
lock=$root/run/immich-render-apply.lock
wait=${IMMICH_RENDER_APPLY_WAIT:-120}
case $wait in
'' | *[!0-9]*) fail "IMMICH_RENDER_APPLY_WAIT is $wait, not a number of seconds" ;;
esac
command -v flock >/dev/null || fail "no flock (util-linux), which keeps two runs of apply.sh apart"
[ -d "${lock%/*}" ] || fail "no folder $(host "${lock%/*}") for the lock $(host "$lock")"
exec 9>>"$lock"
if ! flock -n 9; then
	printf 'apply.sh: another apply.sh is running (it holds %s): waiting up to %s s\n' "$(host "$lock")" "$wait" >&2
	flock -w "$wait" 9 || fail "another apply.sh still holds $(host "$lock") after $wait s (IMMICH_RENDER_APPLY_WAIT): run this one again once it has finished"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 0711 "$work" # for the postgres user
: >"$work/plan"
: >"$work/changes"
: >"$work/verify"

change() { printf '%s\n' "$*" >>"$work/changes"; }

# stage plans to give PATH the contents of FILE ("-" removes PATH).
n=0
stage() {
	n=$((n + 1))
	if [ "$2" = - ]; then
		printf '%s -\n' "$1" >>"$work/plan"
	else
		cp "$2" "$work/new.$n"
		printf '%s %s\n' "$1" "$work/new.$n" >>"$work/plan"
	fi
}

# news notes how setting $3 changes from drop-in $1 to $2 (message $4).
news() {
	new=$(grep "^$3 " "$2" || true)
	old=$(grep "^$3 " "$1" 2>/dev/null || true)
	if [ -n "$new" ] && [ "$new" != "$old" ]; then
		change "$(host "$1"): $4"
	elif [ -z "$new" ] && [ -n "$old" ]; then
		change "$(host "$1"): $3 back to the host's own"
	fi
}
reverse() { awk '{ l[NR] = $0 } END { for (i = NR; i > 0; i--) print l[i] }' "$1"; }

sqlstr() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"; }

# union prints the list $1 (separated by $3) followed by the items of $2
# it lacks. With $4, items are addresses, and one the host's list covers
# ("*", 0.0.0.0, "::*", localhost by 127.0.0.1; "-" marks an optional one)
# is not added: binding it twice would stop Valkey.
union() {
	awk -v host="$1" -v ours="$2" -v sep="$3" -v addr="$4" 'BEGIN {
		n = split(host, h, sep); out = ""; s = ""
		for (i = 1; i <= n; i++) {
			a = h[i]; gsub(/^[ \t]+|[ \t]+$/, "", a)
			if (a == "") continue
			out = out s a; s = sep; sub(/^-/, "", a); have[a] = 1
		}
		m = split(ours, o, sep)
		for (i = 1; i <= m; i++) {
			a = o[i]; sub(/^-/, "", a)
			if (a == "" || (a in have)) continue
			if (addr && (("*" in have) || (a == "localhost" && ("127.0.0.1" in have)) ||
				(a ~ /^([0-9.]+|localhost)$/ && ("0.0.0.0" in have)) ||
				(a ~ /:/ && (("::*" in have) || ("::" in have))))) continue
			have[a] = 1; out = out s o[i]; s = sep
		}
		print out
	}'
}

# --- undo
if [ "$mode" = undo ]; then
	if [ ! -f "$state/files" ]; then
		say "nothing to undo ($(host "$state") has no record of a run)"
		exit 0
	fi
	# A file edited since would lose that edit.
	while read -r what rel; do
		[ "$what" = dir ] && continue
		if [ -e "$state/applied$rel" ]; then
			if ! cmp -s "$state/applied$rel" "$root$rel"; then
				fail "$rel changed since apply.sh wrote it: merge by hand with $(host "$state")/orig$rel"
			fi
		elif [ -e "$root$rel" ]; then
			fail "$rel was created since apply.sh removed it: merge by hand"
		fi
	done <"$state/files"
	reverse "$state/files" >"$work/undo"
	while read -r what rel; do
		case $what in
		saved)
			cp -p "$state/orig$rel" "$work/restore"
			mv -f "$work/restore" "$root$rel"
			say "$rel: restored as it was before apply.sh"
			;;
		created)
			rm -f "$root$rel"
			say "$rel: removed"
			;;
		dir)
			rmdir "$root$rel" 2>/dev/null && say "$rel: removed (empty folder)"
			;;
		esac
	done <"$work/undo"
	reverse "$state/parents" >"$work/parents"
	rm -rf "$state"
	while read -r d; do
		rmdir "$root$d" 2>/dev/null || true
	done <"$work/parents"
	say "restart PostgreSQL and Valkey to use the restored configuration"
	if grep -q '^created /etc/sysctl.d/60-immich-render.conf$' "$work/undo"; then
		say "net.ipv4.ip_nonlocal_bind stays as it is until the next boot"
	fi
	exit 0
fi

# --- PostgreSQL
# pgconf prints setting $2 as PostgreSQL computes it from the config
# folder $1 (includes, the last one winning, postgresql.auto.conf).
pgconf() {
	if [ "$(id -u)" = 0 ]; then
		set -- runuser -u postgres -- "$pgbin" -D "$1" -C "$2"
	else
		set -- "$pgbin" -D "$1" -C "$2"
	fi
	if ! "$@" 2>"$work/pgerr"; then
		printf 'apply.sh: %s: %s\n' "$*" "$(cat "$work/pgerr")" >&2
		return 1
	fi
}

# pgshadow copies config folder $1 to $work/pg, without our drop-in.
pgshadow() {
	rm -rf "$work/pg"
	mkdir -p "$work/pg/conf.d"
	for f in "$1"/*.conf; do
		[ -f "$f" ] && cp "$f" "$work/pg/"
	done
	if [ -d "$1/conf.d" ]; then
		cp -R "$1/conf.d/." "$work/pg/conf.d/"
		rm -f "$work/pg/conf.d/immich-render.conf"
	fi
	if [ "$(id -u)" = 0 ]; then
		chown -R postgres "$work/pg"
	fi
}

cluster=
for conf in "$root"/etc/postgresql/*/*/postgresql.conf; do
	[ -f "$conf" ] || continue
	dir=${conf%/postgresql.conf}
	ver=${dir%/*}
	ver=${ver##*/}
	pgbin=
	for b in "$root/usr/lib/postgresql/$ver/bin/postgres" "/usr/lib/postgresql/$ver/bin/postgres"; do
		if [ -x "$b" ]; then
			pgbin=$b
			break
		fi
	done
	[ -n "$pgbin" ] || fail "$(host "$dir"): no /usr/lib/postgresql/$ver/bin/postgres to read its settings with"
	pgshadow "$dir"
	port=$(pgconf "$work/pg" port) || fail "cannot read the settings of $(host "$dir")"
	if [ "$port" = "$pg_port" ]; then
		cluster=$dir
		break
	fi
done
[ -n "$cluster" ] || fail "no PostgreSQL cluster in $root/etc/postgresql/*/* uses port $pg_port (immich.postgres.port): merge fragments/postgresql by hand"

dropin=$cluster/conf.d/immich-render.conf
host_listen=$(pgconf "$work/pg" listen_addresses) || fail "cannot read the settings of $(host "$cluster")"
host_preload=$(pgconf "$work/pg" shared_preload_libraries) || fail "cannot read the settings of $(host "$cluster")"
want_listen=$(union "$host_listen" "$pg_listen" , addr)
want_preload=$(union "$host_preload" "$pg_preload" , "")

: >"$work/dropin"
if [ "$want_listen" != "$host_listen" ]; then
	printf 'listen_addresses = %s\n' "$(sqlstr "$want_listen")" >>"$work/dropin"
fi
if [ "$want_preload" != "$host_preload" ]; then
	printf 'shared_preload_libraries = %s\n' "$(sqlstr "$want_preload")" >>"$work/dropin"
fi
printf 'pg %s listen_addresses %s\npg %s shared_preload_libraries %s\n' \
	"$cluster" "$want_listen" "$cluster" "$want_preload" >>"$work/verify"
if [ -s "$work/dropin" ]; then
	{
		echo "# immich-render's apply.sh: the host's values, then Immich's."
		cat "$work/dropin"
	} >"$work/dropin.new"
	if ! cmp -s "$work/dropin.new" "$dropin"; then
		stage "$dropin" "$work/dropin.new"
		news "$dropin" "$work/dropin.new" listen_addresses "listen_addresses = '$want_listen' (the host's: '$host_listen')"
		news "$dropin" "$work/dropin.new" shared_preload_libraries "shared_preload_libraries = '$want_preload' (the host's: '$host_preload')"
	fi
elif [ -e "$dropin" ]; then
	stage "$dropin" -
	change "$(host "$dropin"): removed, the host's own values already cover Immich's"
fi

hba=$cluster/pg_hba.conf
[ -f "$hba" ] || fail "$(host "$hba") does not exist: merge fragments/postgresql/pg_hba.conf by hand"
# Lines an earlier run added that are no longer rendered go: no stale grant.
hbalog=$state/added$(host "$hba")
: >"$work/hba.add"
: >"$work/hba.drop"
grep -v -e '^#' -e '^[[:space:]]*$' "$here/postgresql/pg_hba.conf" >"$work/hba.want" || true
while IFS= read -r line; do
	if ! grep -qxF "$line" "$hba"; then
		printf '%s\n' "$line" >>"$work/hba.add"
		change "$(host "$hba"): added at the top: $line"
	fi
done <"$work/hba.want"
if [ -f "$hbalog" ]; then
	while IFS= read -r line; do
		if ! grep -qxF "$line" "$work/hba.want" && grep -qxF "$line" "$hba"; then
			printf '%s\n' "$line" >>"$work/hba.drop"
			change "$(host "$hba"): removed, no longer rendered: $line"
		fi
	done <"$hbalog"
fi
if [ -s "$work/hba.add" ] || [ -s "$work/hba.drop" ]; then
	{
		cat "$work/hba.add"
		grep -vxF -f "$work/hba.drop" "$hba" || true
	} >"$work/hba.new"
	stage "$hba" "$work/hba.new"
fi

# --- Valkey
# vkexpand prints a Valkey configuration, includes read in place, without
# this script's include.
vkexpand() (
	while IFS= read -r line || [ -n "$line" ]; do
		[ "$line" = "$include" ] && continue
		# shellcheck disable=SC2086 # split the line into words, as Valkey does
		set -f && set -- $line && set +f
		case ${1:-} in
		include | INCLUDE)
			for inc in "$root"$2; do
				[ -f "$inc" ] && vkexpand "$inc"
			done
			;;
		*) printf '%s\n' "$line" ;;
		esac
	done <"$1"
)
# vkget prints the last value of directive $1.
vkget() {
	awk -v name="$1" 'tolower($1) == name { $1 = ""; v = substr($0, 2) } END { gsub(/"/, "", v); print v }'
}

# vkmerge merges into the Valkey (or redis-server) configuration $1.
vkmerge() {
	vconf=$1
	vdropin=${vconf%/*}/immich-render.conf
	include="include $(host "$vdropin")"
	vkexpand "$vconf" >"$work/valkey.host"
	host_bind=$(vkget bind <"$work/valkey.host")
	[ -n "$host_bind" ] || host_bind="* -::*"
	host_port=$(vkget port <"$work/valkey.host")
	[ -n "$host_port" ] || host_port=6379
	host_aclfile=$(vkget aclfile <"$work/valkey.host")
	[ "$host_port" = "$valkey_port" ] || fail "$(host "$vconf") sets port $host_port, but immich.valkey.port is $valkey_port: Valkey has one port, so set immich.valkey.port to $host_port"
	want_bind=$(union "$host_bind" "$valkey_bind" " " addr)

	: >"$work/vdropin"
	if [ "$want_bind" != "$host_bind" ]; then
		printf 'bind %s\n' "$want_bind" >>"$work/vdropin"
	fi
	if [ -n "$valkey_aclfile" ]; then
		if [ -z "$host_aclfile" ]; then
			if grep -qi '^[[:space:]]*user[[:space:]]' "$work/valkey.host"; then
				fail "$(host "$vconf") defines users itself (user lines), which Valkey refuses beside an aclfile: move them into valkey.users, or set valkey.aclMode to \"user\""
			fi
			printf 'aclfile %s\n' "$valkey_aclfile" >>"$work/vdropin"
		elif [ "$host_aclfile" != "$valkey_aclfile" ]; then
			fail "$(host "$vconf") reads its users from aclfile $host_aclfile, and immich-render renders the whole of $valkey_aclfile: set valkey.aclMode to \"user\" to manage only Immich's user in the host's file, or move the host's users into valkey.users and point aclfile at $valkey_aclfile yourself"
		fi
	else
		[ -n "$host_aclfile" ] || fail "$(host "$vconf") has no aclfile, which valkey.aclMode \"user\" needs (ACL SAVE writes Immich's user there): add one, for example aclfile /etc/valkey/users.acl, with the host's users"
	fi
	printf 'valkey %s bind %s\nvalkey %s aclfile %s\n' "$vconf" "$want_bind" "$vconf" "${valkey_aclfile:-$host_aclfile}" >>"$work/verify"

	if [ -s "$work/vdropin" ]; then
		{
			echo "# immich-render's apply.sh: the host's values, then Immich's."
			cat "$work/vdropin"
		} >"$work/vdropin.new"
		if ! cmp -s "$work/vdropin.new" "$vdropin"; then
			stage "$vdropin" "$work/vdropin.new"
			news "$vdropin" "$work/vdropin.new" bind "bind $want_bind (the host's: $host_bind)"
			news "$vdropin" "$work/vdropin.new" aclfile "aclfile $valkey_aclfile (the host had none)"
		fi
		# The last directive wins.
		if [ "$(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$vconf" | tail -n 1)" != "$include" ]; then
			grep -vxF "$include" "$vconf" >"$work/vconf.new" || true
			printf '%s\n' "$include" >>"$work/vconf.new"
			stage "$vconf" "$work/vconf.new"
			change "$(host "$vconf"): $include, at the end"
		fi
	else
		if [ -e "$vdropin" ]; then
			stage "$vdropin" -
			change "$(host "$vdropin"): removed, the host's own values already cover Immich's"
		fi
		if grep -qxF "$include" "$vconf"; then
			grep -vxF "$include" "$vconf" >"$work/vconf.new" || true
			stage "$vconf" "$work/vconf.new"
			change "$(host "$vconf"): removed $include"
		fi
	fi
}
if [ -f "$root/etc/valkey/valkey.conf" ]; then
	vkmerge "$root/etc/valkey/valkey.conf"
elif [ -f "$root/etc/redis/redis.conf" ]; then
	vkmerge "$root/etc/redis/redis.conf"
else
	fail "no $root/etc/valkey/valkey.conf or $root/etc/redis/redis.conf: merge fragments/valkey by hand"
fi

# --- sysctl
# Both servers bind the gateway at boot, before Podman's bridge has it.
sysctl=$root/etc/sysctl.d/60-immich-render.conf
echo 'net.ipv4.ip_nonlocal_bind = 1' >"$work/sysctl"
if ! cmp -s "$work/sysctl" "$sysctl"; then
	stage "$sysctl" "$work/sysctl"
	change "$(host "$sysctl"): net.ipv4.ip_nonlocal_bind = 1"
fi

# --- write
if [ ! -s "$work/changes" ]; then
	say "no change"
	exit 0
fi
if [ "$mode" = dry-run ]; then
	while IFS= read -r line; do say "would change $line"; done <"$work/changes"
	exit 0
fi

# record notes how to undo, once per path: the first run keeps originals.
recorded() { [ -f "$state/files" ] && awk -v p="$1" '$2 == p { f = 1 } END { exit !f }' "$state/files"; }
record() { recorded "$1" || printf '%s %s\n' "$2" "$1" >>"$state/files"; }
# mkdirs makes folder $1, listing the ones made, outermost first.
: >"$work/newdirs"
mkdirs() {
	: >"$work/made.rev"
	d=$1
	while [ ! -d "$d" ]; do
		host "$d" >>"$work/made.rev"
		d=${d%/*}
	done
	mkdir -p "$1"
	reverse "$work/made.rev" >"$work/made"
	cat "$work/made" >>"$work/newdirs"
}
if [ -d "$state" ]; then
	cp -Rp "$state" "$work/state.before"
else
	mkdirs "$state"
	sed '$d' "$work/made" >"$state/parents"
fi
chmod 0700 "$state"
# This run's originals, to roll back.
: >"$work/rollback"
while read -r path new; do
	rel=$(host "$path")
	parent=${path%/*}
	if [ ! -d "$parent" ]; then
		mkdirs "$parent"
		while read -r d; do record "$d" dir; done <"$work/made"
	fi
	if [ -e "$path" ]; then
		if ! recorded "$rel"; then
			mkdir -p "$state/orig${rel%/*}"
			cp -p "$path" "$state/orig$rel"
		fi
		record "$rel" saved
		cp -p "$path" "$work/before.$n"
		printf '%s %s\n' "$path" "$work/before.$n" >>"$work/rollback"
		n=$((n + 1))
	else
		record "$rel" created
		printf '%s -\n' "$path" >>"$work/rollback"
	fi
	mkdir -p "$state/applied${rel%/*}"
	if [ "$new" = - ]; then
		rm -f "$path" "$state/applied$rel"
	else
		if [ -e "$path" ]; then
			cp -p "$path" "$path.immich-render-new"
			cat "$new" >"$path.immich-render-new"
		else
			cp "$new" "$path.immich-render-new"
			chmod 0644 "$path.immich-render-new"
		fi
		mv -f "$path.immich-render-new" "$path"
		cp -p "$path" "$state/applied$rel"
	fi
done <"$work/plan"

# The pg_hba.conf lines that are ours.
mkdir -p "${hbalog%/*}"
{
	[ ! -f "$hbalog" ] || grep -vxF -f "$work/hba.drop" "$hbalog" || true
	cat "$work/hba.add"
} | sort -u >"$work/hbalog"
mv "$work/hbalog" "$hbalog"

# The servers must now compute what was written.
problem=
while read -r what a b c; do
	case $what in
	pg)
		got=$(pgconf "$a" "$b") || got="(unreadable)"
		[ "$got" = "$c" ] || problem="PostgreSQL computes $b = '$got' after the merge, not '$c': a setting read after $(host "$a")/conf.d/immich-render.conf (ALTER SYSTEM's postgresql.auto.conf?) wins over it; set it there by hand"
		;;
	valkey)
		# shellcheck disable=SC2030,SC2031 # include is only read here
		got=$(include="" && vkexpand "$a" | vkget "$b")
		[ -n "$got" ] || [ "$b" != bind ] || got="* -::*"
		[ "$got" = "$c" ] || problem="Valkey reads $b $got from $(host "$a") after the merge, not $c: a line after the include wins over it"
		;;
	esac
	[ -z "$problem" ] || break
done <"$work/verify"
if [ -n "$problem" ]; then
	while read -r path before; do
		if [ "$before" = - ]; then rm -f "$path"; else mv -f "$before" "$path"; fi
	done <"$work/rollback"
	rm -rf "$state"
	if [ -d "$work/state.before" ]; then
		mv "$work/state.before" "$state"
	fi
	reverse "$work/newdirs" | while read -r d; do
		rmdir "$root$d" 2>/dev/null || true
	done
	fail "$problem"
fi

while IFS= read -r line; do say "$line"; done <"$work/changes"
if [ -z "$root" ] && [ "$(cat /proc/sys/net/ipv4/ip_nonlocal_bind 2>/dev/null)" != 1 ]; then
	sysctl -q -p "$sysctl"
	say "net.ipv4.ip_nonlocal_bind = 1 now"
fi
say "restart PostgreSQL and Valkey for the new settings to take effect"
