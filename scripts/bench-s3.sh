#!/usr/bin/env bash
# S3 upload/download benchmark (docs/benchmarks.md, "S3 upload and download").
# Starts s3s-fs on loopback (scripts/s3-server.sh), makes a file of mixed
# random and text data, and times lifeboat (examples/s3_io, S3Store) against
# `aws s3 cp` both ways on the same endpoint: wall time and peak RSS from
# GNU time, median of RUNS, the four commands interleaved in each round. Then
# lifeboat's peak RSS at two sizes. The CPU time of each client and of the
# server (from /proc) is reported too: on a small machine it shows who waits
# on whom. Checks the round trips byte for byte, prints markdown tables and
# removes what it created.
#
# Knobs (environment):
#   SIZE_GIB=2          file size for the lifeboat vs aws comparison
#   RSS_GIB="1 4"       sizes for lifeboat's peak RSS ("" skips)
#   RUNS=3              repetitions (the median is reported)
#   PORT=9417           s3s-fs port
#   WORK=/var/tmp/lifeboat-bench-s3   scratch dir (source files, server root, downloads)
#   BUILD=1             0: use the existing target/release/examples/s3_io
#   LIFEBOAT_S3_PART_MIB / LIFEBOAT_S3_PARALLEL / LIFEBOAT_S3_PARALLEL_DOWNLOADS: lifeboat tuning
# Needs: s3s-fs, the AWS CLI, GNU time (/usr/bin/time), openssl.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_GIB=${SIZE_GIB:-2}
RSS_GIB=${RSS_GIB-"1 4"}
RUNS=${RUNS:-3}
PORT=${PORT:-9417}
WORK=${WORK:-/var/tmp/lifeboat-bench-s3}
BUILD=${BUILD:-1}
BIN=target/release/examples/s3_io
BUCKET=bench

log() { printf '%s\n' "$*" >&2; }
die() { log "bench-s3: $*"; exit 1; }
if [ ! -x /usr/bin/time ]; then
    log "GNU time missing, installing it"
    apt-get install -y time >/dev/null 2>&1 || die "GNU time missing (apt-get install -y time)"
fi
command -v aws >/dev/null || die "the AWS CLI is missing"
command -v openssl >/dev/null || die "openssl is missing"

SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK" "$WORK.log"
}
trap cleanup EXIT
cleanup
mkdir -p "$WORK"
log "disk before:"; df -h "$WORK" | sed 's/^/  /' >&2

if [ "$BUILD" = 1 ]; then
    log "building examples/s3_io (release)"
    cargo build --release --example s3_io >&2
fi

# --- server --------------------------------------------------------------------
env_file=$WORK/env
PORT=$PORT BUCKET=$BUCKET scripts/s3-server.sh "$WORK/root" >"$env_file"
# shellcheck disable=SC1090
. "$env_file"
SERVER_PID=$LIFEBOAT_S3_PID
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
AWS=(aws --endpoint-url "$AWS_ENDPOINT_URL")

# --- data: 32 MiB chunks, alternately AES-CTR keystream and numbered text lines ---
text_chunk=$WORK/text.chunk
# (the generators die of SIGPIPE when head has enough: no pipefail here)
set +o pipefail
seq 1 2000000 | awk '{ printf "%07d the quick brown fox %s jumps over the lazy dog %d\n", $1, substr("abcdefghijklmnopqrstuvwxyz", $1 % 26 + 1, 5), $1 * 7 }' \
    | head -c $((32 << 20)) >"$text_chunk"
make_file() { # GIB PATH
    local chunks=$(($1 * 32)) i
    set +o pipefail
    for ((i = 0; i < chunks; i++)); do
        if ((i % 2 == 0)); then
            openssl enc -aes-256-ctr -pbkdf2 -nosalt -pass "pass:lifeboat-$i" </dev/zero 2>/dev/null | head -c $((32 << 20))
        else
            cat "$text_chunk"
        fi
    done >"$2"
    set -o pipefail
}
set -o pipefail

# CPU seconds (user + sys) the server has used so far.
server_cpu() { awk -v t="$(getconf CLK_TCK)" '{ print ($14 + $15) / t }' "/proc/$SERVER_PID/stat"; }
# run LABEL CMD...: appends "seconds kib user-cpu-s sys-cpu-s server-cpu-s" to $WORK/LABEL.times
run() {
    local label=$1; shift
    local before; before=$(server_cpu)
    /usr/bin/time -f '%e %M %U %S' -o "$WORK/time.out" "$@" >/dev/null 2>"$WORK/cmd.err" \
        || { cat "$WORK/cmd.err" >&2; die "$label failed: $*"; }
    printf '%s %s\n' "$(cat "$WORK/time.out")" "$(awk -v a="$before" -v b="$(server_cpu)" 'BEGIN { print b - a }')" \
        >>"$WORK/$label.times"
    log "  $label: $(tail -n 1 "$WORK/$label.times")"
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
col() { awk -v c="$2" '{ print $c }' "$WORK/$1.times"; }
mib() { awk '{ printf "%.0f", $1 / 1024 }'; }

# --- lifeboat vs aws s3 cp ------------------------------------------------------
src=$WORK/src-${SIZE_GIB}g
log "making a ${SIZE_GIB} GiB file"
make_file "$SIZE_GIB" "$src"
for ((r = 1; r <= RUNS; r++)); do
    log "round $r/$RUNS"
    run lb-up "$BIN" upload "$src" "s3://$BUCKET/lb/src"
    run aws-up "${AWS[@]}" s3 cp --quiet "$src" "s3://$BUCKET/aws/src"
    rm -f "$WORK/lb-down" "$WORK/aws-down"
    run lb-down "$BIN" download "s3://$BUCKET/lb/src" "$WORK/lb-down"
    run aws-down "${AWS[@]}" s3 cp --quiet "s3://$BUCKET/aws/src" "$WORK/aws-down"
done
cmp "$src" "$WORK/lb-down" || die "lifeboat's round trip differs"
cmp "$src" "$WORK/aws-down" || die "aws's round trip differs"
log "round trips byte-identical"

bytes=$(stat -c %s "$src")
echo
echo "File: $SIZE_GIB GiB ($bytes bytes), median of $RUNS; all runs (s): see stderr."
echo
echo "| direction | lifeboat | aws s3 cp | speed-up | lifeboat peak RSS | aws peak RSS | lifeboat CPU | aws CPU | server CPU (lifeboat / aws) |"
echo "|---|---|---|---|---|---|---|---|---|"
# cpu LABEL: median of user + sys CPU seconds
cpu() { awk '{ print $3 + $4 }' "$WORK/$1.times" | median; }
for dir in up down; do
    lb=$(col "lb-$dir" 1 | median); aw=$(col "aws-$dir" 1 | median)
    lbm=$(col "lb-$dir" 2 | median | mib); awm=$(col "aws-$dir" 2 | median | mib)
    name=$([ "$dir" = up ] && echo upload || echo download)
    printf '| %s | %s s (%.0f MiB/s) | %s s (%.0f MiB/s) | %.2f× | %s MiB | %s MiB | %s s | %s s | %s s / %s s |\n' \
        "$name" "$lb" "$(awk -v b="$bytes" -v s="$lb" 'BEGIN { print b / 1048576 / s }')" \
        "$aw" "$(awk -v b="$bytes" -v s="$aw" 'BEGIN { print b / 1048576 / s }')" \
        "$(awk -v a="$aw" -v l="$lb" 'BEGIN { print a / l }')" "$lbm" "$awm" \
        "$(cpu "lb-$dir")" "$(cpu "aws-$dir")" "$(col "lb-$dir" 5 | median)" "$(col "aws-$dir" 5 | median)"
done
"${AWS[@]}" s3 rm --quiet --recursive "s3://$BUCKET/" >/dev/null
rm -f "$src" "$WORK"/*-down

# --- lifeboat's peak RSS against the size ----------------------------------------
if [ -n "$RSS_GIB" ]; then
    echo
    echo "| size | upload | upload peak RSS | download | download peak RSS |"
    echo "|---|---|---|---|---|"
    for g in $RSS_GIB; do
        log "making a $g GiB file"
        f=$WORK/rss-${g}g
        make_file "$g" "$f"
        rm -f "$WORK"/rss-*.times
        for ((r = 1; r <= RUNS; r++)); do
            run "rss-up-$g" "$BIN" upload "$f" "s3://$BUCKET/rss/$g"
            rm -f "$WORK/rss-down"
            run "rss-down-$g" "$BIN" download "s3://$BUCKET/rss/$g" "$WORK/rss-down"
        done
        cmp "$f" "$WORK/rss-down" || die "the $g GiB round trip differs"
        printf '| %s GiB | %s s | %s MiB | %s s | %s MiB |\n' "$g" \
            "$(col "rss-up-$g" 1 | median)" "$(col "rss-up-$g" 2 | median | mib)" \
            "$(col "rss-down-$g" 1 | median)" "$(col "rss-down-$g" 2 | median | mib)"
        "${AWS[@]}" s3 rm --quiet --recursive "s3://$BUCKET/" >/dev/null
        rm -f "$f" "$WORK/rss-down"
    done
fi
log "disk at the end (before cleanup):"; df -h "$WORK" | sed 's/^/  /' >&2
