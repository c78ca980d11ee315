#!/bin/sh
# Rendered by immich-render. Do not edit: change the configuration and render again.
#
# Sets Immich's user in the host's Valkey (valkey.aclMode "user"): ACL
# SETUSER with reset, so that the user has exactly the rules and password
# of the configuration whatever it had before, then ACL SAVE, so that the
# host's aclfile keeps it. Every other user of that file stays as it is.
# Run by immich-valkey-user.service before Immich starts, as the admin
# (default) user over loopback; idempotent.
set -eu

cli=
for c in /usr/bin/valkey-cli /usr/bin/redis-cli; do
	if [ -x "$c" ]; then
		cli=$c
		break
	fi
done
if [ -z "$cli" ]; then
	echo "valkey-user.sh: neither /usr/bin/valkey-cli nor /usr/bin/redis-cli is installed (Debian: valkey-tools or redis-tools)" >&2
	exit 1
fi

# The admin password, from the secrets folder: through the environment,
# which other users cannot read, not on the command line.
secret='/opt/podman/immich/secrets/valkey_admin_password'
VALKEYCLI_AUTH=$(cat "$secret")
REDISCLI_AUTH=$VALKEYCLI_AUTH
export VALKEYCLI_AUTH REDISCLI_AUTH

valkey() {
	out=$("$cli" -h 127.0.0.1 -p '6379' --user default --no-auth-warning "$@" 2>&1) || true
	if [ "$out" != OK ]; then
		echo "valkey-user.sh: $1 $2: ${out:-no answer}" >&2
		exit 1
	fi
}
valkey ACL SETUSER 'immich' 'reset' 'resetchannels' 'on' '#3679c9788059c897bcb14c30f108d29eba0730a1242f01d92c02656bb630067b' '~immich_bull*' '~immich_channel*' '&*' '+@read' '+@write' '+@pubsub' '-@dangerous' '+select' '+auth' '+ping' '+info' '+eval' '+evalsha' '+client|setname' '+client|setinfo'
valkey ACL SAVE
echo "valkey-user.sh: user immich set and saved"
