#!/bin/sh
# Entrypoint of the postgres service; baked into lifeboat-test/stack:local as
# /usr/local/bin/stack-postgres. Runs initdb on an empty volume, then execs the
# server as PID 1 (compose stops it with SIGINT: a fast, clean shutdown).
set -eu
PGDATA=/var/lib/postgresql/data
mkdir -p "$PGDATA" /run/postgresql
# Only the top directories: a restore that gets ownership wrong must still fail.
chown postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  setpriv --reuid=postgres --regid=postgres --init-groups \
    initdb -D "$PGDATA" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8
  # Test stack only: other containers on the network may connect without a password.
  echo "host all all all trust" >>"$PGDATA/pg_hba.conf"
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups \
  postgres -D "$PGDATA" -c listen_addresses='*' "$@"
