#!/usr/bin/env bash
# Make sure a PostgreSQL server answers on 127.0.0.1:$SQUALL_PG_PORT with a
# known superuser password, for the Postgres tests and for trying
# `squall server --persistence postgres` by hand. Idempotent: a server that
# already answers is left alone; a missing PostgreSQL is installed from
# Debian's archive; the data directory is squall's own (not the distribution's
# cluster), so nothing else on the machine is touched.
#
# On success it prints the DSN to use, e.g.
#   postgres://postgres:squall@127.0.0.1:55432/postgres?sslmode=disable
set -euo pipefail

PORT="${SQUALL_PG_PORT:-55432}"
DATA="${SQUALL_PG_DATA:-/var/tmp/squall-postgres-$PORT}"
PASSWORD="${SQUALL_PG_PASSWORD:-squall}"
SUPERUSER=postgres
DSN="postgres://$SUPERUSER:$PASSWORD@127.0.0.1:$PORT/postgres?sslmode=disable"

say() { echo "ensure-postgres: $*" >&2; }

bindir() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
	done
	return 1
}

answers() {
	PGPASSWORD="$PASSWORD" psql -h 127.0.0.1 -p "$PORT" -U "$SUPERUSER" -d postgres -tAc 'select 1' >/dev/null 2>&1
}

if command -v psql >/dev/null && answers; then
	echo "$DSN"
	exit 0
fi

if ! BIN=$(bindir) || ! command -v psql >/dev/null; then
	if [ "$(id -u)" != 0 ]; then
		say "PostgreSQL is not installed and this is not root: run 'apt-get install -y postgresql' first"
		exit 1
	fi
	say "installing PostgreSQL from the Debian archive"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q postgresql >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q postgresql >/dev/null; }
	BIN=$(bindir) || { say "postgresql installed but no initdb found under /usr/lib/postgresql"; exit 1; }
fi

# initdb and postgres refuse to run as root: use the distribution's
# postgres account when we are root.
as_owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

if [ ! -s "$DATA/PG_VERSION" ]; then
	say "creating a database cluster in $DATA (port $PORT)"
	mkdir -p "$DATA"
	[ "$(id -u)" = 0 ] && chown postgres:postgres "$DATA"
	chmod 700 "$DATA"
	pwfile=$(mktemp)
	printf '%s\n' "$PASSWORD" >"$pwfile"
	[ "$(id -u)" = 0 ] && chown postgres "$pwfile"
	as_owner "$BIN/initdb" -D "$DATA" -U "$SUPERUSER" --pwfile="$pwfile" --auth=scram-sha-256 -E UTF8 >/dev/null
	rm -f "$pwfile"
	cat >>"$DATA/postgresql.conf" <<CONF
# squall: loopback only, our own socket directory, enough connections for
# several Temporal servers (each history shard and service opens its own).
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DATA'
max_connections = 300
fsync = on
CONF
fi

if ! as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
	say "starting PostgreSQL on 127.0.0.1:$PORT"
	as_owner "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 start >/dev/null
fi

for _ in $(seq 1 60); do
	if answers; then
		echo "$DSN"
		exit 0
	fi
	sleep 0.5
done
say "PostgreSQL in $DATA does not accept the password login on 127.0.0.1:$PORT (log: $DATA/server.log)"
exit 1
