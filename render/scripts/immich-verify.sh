# immich-verify checks a deployed Immich the way Immich uses the host: its
# units, PostgreSQL and Valkey at the address the containers reach them at
# (host.containers.internal, the Immich network's gateway) logged in as
# Immich's own users with their secret files, and the server's HTTP ping
# (and through nginx, when it proxies). It prints one line per check and
# exits 1 when one fails. The values above are the rendered ones; each can
# be overridden from the environment.
#
# Usage: immich-verify [WAIT]   WAIT: seconds to wait for the server to
# answer its ping (default 300: the first start migrates the database).
set -u

wait_for=${1:-300}
failed=0

ok() { printf 'ok:   %s\n' "$*"; }
fail() {
	printf 'FAIL: %s\n' "$*"
	failed=1
}

# Units: a oneshot with RemainAfterExit is active once it has succeeded.
for unit in $VERIFY_UNITS; do
	if systemctl is-active --quiet "$unit"; then
		ok "$unit is active"
	else
		fail "$unit is $(systemctl is-active "$unit"); see journalctl -u $unit"
	fi
done

# PostgreSQL: accepting connections, and Immich's role logs in.
if pg_isready -q -h "$VERIFY_PG_HOST" -p "$VERIFY_PG_PORT" -d "$VERIFY_PG_DATABASE" -U "$VERIFY_PG_USER"; then
	ok "PostgreSQL accepts connections on $VERIFY_PG_HOST:$VERIFY_PG_PORT"
else
	fail "PostgreSQL does not accept connections on $VERIFY_PG_HOST:$VERIFY_PG_PORT (listen_addresses, fragments/apply.sh, a restart)"
fi
if [ ! -r "$VERIFY_PG_PASSWORD_FILE" ]; then
	fail "cannot read $VERIFY_PG_PASSWORD_FILE (copy the secrets directory)"
elif out=$(PGPASSWORD=$(cat "$VERIFY_PG_PASSWORD_FILE") PGSSLMODE=prefer PGCONNECT_TIMEOUT=10 \
	psql -X -A -t -w -h "$VERIFY_PG_HOST" -p "$VERIFY_PG_PORT" -U "$VERIFY_PG_USER" -d "$VERIFY_PG_DATABASE" -c 'SELECT 1' 2>&1) && [ "$out" = 1 ]; then
	ok "PostgreSQL: $VERIFY_PG_USER logs in to $VERIFY_PG_DATABASE"
else
	fail "PostgreSQL: $VERIFY_PG_USER cannot log in to $VERIFY_PG_DATABASE: $out (pg_hba.conf, immich-db-init.service)"
fi

# Valkey: Immich's user authenticates and may PING (REDISCLI_AUTH keeps
# the password off the command line).
cli=valkey-cli
command -v "$cli" >/dev/null 2>&1 || cli=redis-cli
if [ ! -r "$VERIFY_VALKEY_PASSWORD_FILE" ]; then
	fail "cannot read $VERIFY_VALKEY_PASSWORD_FILE (copy the secrets directory)"
elif out=$(REDISCLI_AUTH=$(cat "$VERIFY_VALKEY_PASSWORD_FILE") "$cli" -h "$VERIFY_VALKEY_HOST" -p "$VERIFY_VALKEY_PORT" \
	--user "$VERIFY_VALKEY_USER" -n "$VERIFY_VALKEY_DB" PING 2>&1) && [ "$out" = PONG ]; then
	ok "Valkey: $VERIFY_VALKEY_USER is answered PONG on $VERIFY_VALKEY_HOST:$VERIFY_VALKEY_PORT"
else
	fail "Valkey: $VERIFY_VALKEY_USER gets no PONG on $VERIFY_VALKEY_HOST:$VERIFY_VALKEY_PORT: $out (bind, users.acl, a restart)"
fi

# The server: its ping, waiting while it starts.
get() { curl -fsS --max-time 10 "$@" 2>&1; }
deadline=$(($(date +%s) + wait_for))
while :; do
	if out=$(get "$VERIFY_PING"); then
		break
	fi
	if [ "$(date +%s)" -ge "$deadline" ]; then
		break
	fi
	sleep 5
done
case $out in
*pong*) ok "immich-server answers $VERIFY_PING" ;;
*) fail "immich-server does not answer $VERIFY_PING: $out (podman logs immich_server)" ;;
esac
if [ -n "$VERIFY_PROXY_URL" ]; then
	# The certificate may not be trusted yet (a test CA, a first
	# issuance): this checks the proxying, not the certificate.
	case $(get --insecure --resolve "$VERIFY_PROXY_RESOLVE" "$VERIFY_PROXY_URL") in
	*pong*) ok "nginx proxies $VERIFY_PROXY_URL" ;;
	*) fail "nginx does not proxy $VERIFY_PROXY_URL (nginx -t, journalctl -u nginx)" ;;
	esac
fi

if [ "$failed" = 0 ]; then
	echo "immich-verify: every check passed"
fi
exit "$failed"
