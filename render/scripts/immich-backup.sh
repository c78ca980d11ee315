#!/bin/sh
{{header "#" -}}
# {{.Unit}} runs it as postgres: immich-backup DIR KEEP DATABASE PORT
set -eu
umask 077
export LC_ALL=C # globs sort by byte: oldest first
dir=$1 keep=$2 db=$3 port=$4
# Left by a run killed outright (runs never overlap).
rm -f -- "$dir/.$db-"*.partial
final="$dir/$db-$(date -u +%Y%m%dT%H%M%SZ).dump"
partial="${final%/*}/.${final##*/}.partial"
if [ -e "$final" ]; then echo "$final exists" >&2; exit 1; fi
trap 'rm -f -- "$partial"' EXIT
trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM
pg_dump --format=custom --no-password --port="$port" --file="$partial" --dbname="$db"
mv -- "$partial" "$final"
sync -- "$dir"
echo "wrote $final ($(wc -c <"$final") bytes)"
set -- "$dir/$db-"[0-9]*T[0-9]*Z.dump
while [ $# -gt "$keep" ]; do rm -f -- "$1"; echo "removed $1"; shift; done
