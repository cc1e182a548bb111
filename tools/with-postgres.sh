#!/usr/bin/env bash
# Run a command against a throwaway PostgreSQL cluster (Debian's postgresql package): initdb into a temp
# dir, trust auth on 127.0.0.1, database `test`, on $PGPORT or a free port; exports
# BILLCHAIN_TEST_POSTGRES_URL for the command; stops and deletes the cluster on exit.
# As root, the cluster runs as the `postgres` user (PostgreSQL refuses to run as root).
set -euo pipefail
cd "$(dirname "$0")/.."
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bindir/initdb" ] || { echo "with-postgres: install Debian's postgresql package" >&2; exit 1; }
port=${PGPORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
dir=$(mktemp -d /tmp/billchain-pg.XXXXXX)
as=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  chown postgres "$dir"
  as=(runuser -u postgres --)
fi
cleanup() {
  "${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
"${as[@]}" "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
"${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=200" start >/dev/null
"${as[@]}" "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres test
export BILLCHAIN_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$port/test"
echo "with-postgres: throwaway cluster on 127.0.0.1:$port ($dir)" >&2
"$@"
