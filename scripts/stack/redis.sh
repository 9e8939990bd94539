#!/bin/sh
# Entrypoint of the redis service; baked into lifeboat-test/stack:local as
# /usr/local/bin/stack-redis. No config file: Redis's defaults plus these flags,
# so logs go to stdout and `docker stop` (SIGTERM) makes Redis save and exit.
set -eu
# A new volume is root-owned; only the top is fixed so that a restore that gets
# ownership wrong still shows up as a failure.
chown redis:redis /data
exec setpriv --reuid=redis --regid=redis --init-groups \
  redis-server --dir /data --appendonly yes --bind 0.0.0.0 --protected-mode no "$@"
