#!/usr/bin/env bash
# Starts an S3-protocol server (s3s-fs) on loopback for manual use and CI, and
# prints the environment to export so lifeboat and the AWS CLI use it.
#
#   scripts/s3-server.sh [ROOT_DIR]        # default: a new temp dir
#
# Knobs (environment): PORT=9000 HOST=127.0.0.1 BUCKET=lifeboat
#   ACCESS_KEY=lifeboat SECRET_KEY=lifeboat-secret  FOREGROUND=0 (1: stay attached)
# The bucket is created as a directory under ROOT_DIR. Stop the server with
# `kill $LIFEBOAT_S3_PID` (printed below). Needs s3s-fs:
#   cargo install s3s-fs@0.14.1 --features binary --locked
set -euo pipefail

PORT=${PORT:-9000}
HOST=${HOST:-127.0.0.1}
BUCKET=${BUCKET:-lifeboat}
ACCESS_KEY=${ACCESS_KEY:-lifeboat}
SECRET_KEY=${SECRET_KEY:-lifeboat-secret}
FOREGROUND=${FOREGROUND:-0}
ROOT=${1:-$(mktemp -d /tmp/lifeboat-s3.XXXXXX)}

S3S_FS=${S3S_FS:-$(command -v s3s-fs || echo "$HOME/.cargo/bin/s3s-fs")}
if [ ! -x "$S3S_FS" ]; then
    echo "s3-server: s3s-fs not found; cargo install s3s-fs@0.14.1 --features binary --locked" >&2
    exit 1
fi
mkdir -p "$ROOT/$BUCKET"

args=(--host "$HOST" --port "$PORT" --access-key "$ACCESS_KEY" --secret-key "$SECRET_KEY" "$ROOT")
env_lines() {
    cat <<ENV
export AWS_ENDPOINT_URL=http://$HOST:$PORT
export AWS_ACCESS_KEY_ID=$ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SECRET_KEY
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
# repository URL: s3://$BUCKET/<prefix>    data dir: $ROOT
ENV
}

if [ "$FOREGROUND" = 1 ]; then
    env_lines >&2
    exec "$S3S_FS" "${args[@]}"
fi

"$S3S_FS" "${args[@]}" >"$ROOT.log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; then
        env_lines
        echo "export LIFEBOAT_S3_PID=$pid"
        exit 0
    fi
    kill -0 "$pid" 2>/dev/null || { echo "s3-server: s3s-fs exited (port $PORT taken?), log: $ROOT.log" >&2; cat "$ROOT.log" >&2; exit 1; }
    sleep 0.05
done
echo "s3-server: s3s-fs did not listen on $HOST:$PORT within 10 s" >&2
kill "$pid"
exit 1
