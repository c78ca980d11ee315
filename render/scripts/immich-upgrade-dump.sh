#!/bin/sh
{{.Header}}# {{.Unit}} runs it as postgres before {{.Before}}, so before
# Immich starts: immich-upgrade-dump DIR DATABASE PORT VERSION
#
# When the database was last run by another Immich version than VERSION
# (Immich's own upgrade history, the table version_history), it dumps it
# into DIR/DATABASE-vOLD-before-VERSION.dump, once: the new version's
# migrations cannot be undone. A new database, or one already run by
# VERSION, needs no dump. A failed dump fails the unit, and Immich does
# not start.
set -eu
umask 077
export LC_ALL=C
dir=$1 db=$2 port=$3 version=$4

# psql as the unit's user through the local socket; the query on stdin,
# so that psql fills in :'name' variables.
query() {
	psql -X -q -A -t -w -v ON_ERROR_STOP=1 --port="$port" "$@"
}

exists=$(echo "SELECT 1 FROM pg_catalog.pg_database WHERE datname = :'db'" | query --dbname=postgres -v db="$db")
if [ "$exists" != 1 ]; then
	echo "no database $db yet: nothing to dump"
	exit 0
fi
history=$(echo "SELECT pg_catalog.to_regclass('public.version_history') IS NOT NULL" | query --dbname="$db")
if [ "$history" != t ]; then
	echo "$db has no Immich version history yet: nothing to dump"
	exit 0
fi
last=$(echo 'SELECT version FROM public.version_history ORDER BY "createdAt" DESC LIMIT 1' | query --dbname="$db")
last=v${last#v}
case $last in
v) echo "$db has an empty Immich version history: nothing to dump"; exit 0 ;;
*[!0-9A-Za-z.+-]*) last=vunknown ;; # it goes into a file name
esac
if [ "$last" = "$version" ]; then
	echo "$db was last run by Immich $version: no dump needed"
	exit 0
fi
final="$dir/$db-$last-before-$version.dump"
if [ -e "$final" ]; then
	echo "$final exists: the dump before this upgrade was taken"
	exit 0
fi
partial="$dir/.${final##*/}.partial"
trap 'rm -f -- "$partial"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
pg_dump --format=custom --no-password --port="$port" --file="$partial" --dbname="$db"
mv -- "$partial" "$final"
sync -- "$dir"
echo "Immich $version replaces $last: wrote $final ($(wc -c <"$final") bytes)"
