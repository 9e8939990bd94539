#!/usr/bin/env bash
# Recovery-time benchmark (docs/benchmarks.md, "Recovery time"; issue 12).
# On the test stack (docker-compose.test.yml) with a PostgreSQL volume grown to
# ~1.7 GiB (testdata.sh grow), interleaved, ROUNDS times:
#   full-data-loss, three ways, each after the same simulated disaster (every
#   file of both volumes deleted, the servers started empty again):
#     lifeboat  `lifeboat run full-data-loss --yes` (release build)
#     seeds     per service, side by side: stop, `tar czf` a safety copy,
#               empty the volume and `tar xzf` the tar.gz taken at setup, start,
#               wait until healthy
#     limit     per service, side by side: stop, PUT the raw tar taken at setup
#               (already on disk) through the archive API (`docker cp -`),
#               start, wait until healthy; no safety copy, no verification
#   and every restore is followed by the data check (testdata.sh check and
#   check-big), which must pass;
#   cold-backup, two ways, measuring each service's downtime (stopped → healthy):
#     lifeboat  `lifeboat run cold-backup --yes` (from its journal)
#     limit     per service, side by side: stop, `docker cp C:DIR - > file`, start,
#               wait until healthy
# Prints every round, medians, ratios against the targets, the time from Enter
# to the first step (the journal's first step_started against the moment the
# command was started), each lifeboat step's duration, and peak RSS (GNU time).
#
# Knobs (environment):
#   ROUNDS=3        rounds (each runs every procedure once; the order rotates)
#   ROWS=3000000    rows of shop.big (~1.6 GiB on disk at 3 million)
#   WORK=/var/tmp/lifeboat-rto   scratch dir (raw tars, tar.gz, repository)
#   BUILD=1         0: use the existing target/release/lifeboat (or BIN=path)
#   ONLY=""         "lifeboat": time lifeboat only (no seeds/limit rounds)
#   BASE_BIN=""     another lifeboat binary (e.g. a build of the previous commit): its
#                   full-data-loss is timed too, in the same rounds, to measure a change
# Needs: docker, docker-compose (or the compose plugin), GNU time, jq, awk.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
ROWS=${ROWS:-3000000}
WORK=${WORK:-/var/tmp/lifeboat-rto}
BUILD=${BUILD:-1}
ONLY=${ONLY:-}
BASE_BIN=${BASE_BIN:-}
IMAGE=lifeboat-test/stack:local
P=lifeboat-rto-$$
BIN=${BIN:-$PWD/target/release/lifeboat}
export LIFEBOAT_STATE=$WORK/state LIFEBOAT_LOCK_DIR=$WORK/locks LIFEBOAT_RUNBOOKS=$PWD/runbooks NO_COLOR=1
unset LIFEBOAT_REPO LIFEBOAT_OFFSITE LIFEBOAT_CONFIG

log() { printf '%s\n' "$*" >&2; }
die() { log "bench-rto: $*"; exit 1; }
[ -x /usr/bin/time ] || die "GNU time missing (apt-get install -y time)"
command -v jq >/dev/null || die "jq missing"
docker image inspect "$IMAGE" >/dev/null 2>&1 || die "image $IMAGE missing (scripts/build-test-images.sh)"

compose() {
    if docker compose version >/dev/null 2>&1; then
        docker compose -p "$P" -f docker-compose.test.yml "$@"
    else
        docker-compose -p "$P" -f docker-compose.test.yml "$@"
    fi
}
cleanup() {
    compose down -v --remove-orphans >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
rm -rf "$WORK"
mkdir -p "$WORK/safety" "$WORK/cold"

if [ "$BUILD" = 1 ]; then
    log "building lifeboat (release)"
    cargo build --release --bin lifeboat >&2
fi

now() { date +%s.%N; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
# Seconds since the epoch of an RFC 3339 time (the journal's `at`).
epoch() { date -d "$1" +%s.%N; }
loadavg() { cut -d' ' -f1 /proc/loadavg; }
# Host CPU seconds spent busy (all cores: user, nice, system, irq, softirq,
# steal) and waiting for I/O, since boot: where a procedure's time goes.
cpu() { awk '/^cpu / { printf "%.2f %.2f", ($2 + $3 + $4 + $7 + $8 + $9) / 100, $6 / 100 }' /proc/stat; }
cpu_record() { # round procedure "busy iowait" (at the start)
    local b0 w0 b1 w1
    read -r b0 w0 <<<"$3"
    read -r b1 w1 <<<"$(cpu)"
    record "$1" "$2" cpu_busy "$(sub "$b0" "$b1")"
    record "$1" "$2" cpu_iowait "$(sub "$w0" "$w1")"
}

# Service → container, compose mount point, volume.
declare -A CTR MNT VOL
MNT[redis]=/data
MNT[postgres]=/var/lib/postgresql/data
VOL[redis]=${P}_redis-data
VOL[postgres]=${P}_pg-data

wait_healthy() { # container
    local s
    for _ in $(seq 1200); do
        s=$(docker inspect -f '{{.State.Status}} {{.State.Health.Status}}' "$1")
        [ "$s" = "running healthy" ] && return 0
        [ "${s%% *}" = exited ] && die "$1 exited while waiting for it to be healthy"
        sleep 0.1
    done
    die "$1 not healthy after 120 s"
}

check_data() { # label
    if ! scripts/testdata.sh check "$P" >"$WORK/check" 2>&1 ||
        ! scripts/testdata.sh check-big "$P" "$ROWS" >>"$WORK/check" 2>&1; then
        cat "$WORK/check" >&2
        die "$1: the data check failed"
    fi
    log "    data check: OK ($(grep -c OK "$WORK/check") checks)"
}

# Every file of both volumes deleted; the servers start again on nothing
# (PostgreSQL runs initdb), as in `lifeboat demo`.
disaster() {
    compose stop >/dev/null 2>&1
    docker run --rm -v "${VOL[redis]}:/r" -v "${VOL[postgres]}:/p" "$IMAGE" \
        sh -c 'rm -rf /r/* /r/.[!.]* /p/* /p/.[!.]*'
    compose start >/dev/null 2>&1
    scripts/testdata.sh wait "$P" 120 >/dev/null
    sync
}

# --- setup -------------------------------------------------------------------
log "stack $P: up, seed, grow shop.big to $ROWS rows"
compose up -d >/dev/null 2>&1
scripts/testdata.sh wait "$P" 120 >&2
scripts/testdata.sh seed "$P" >&2
t0=$SECONDS
scripts/testdata.sh grow "$P" "$ROWS" >&2
log "  grown in $((SECONDS - t0)) s"
for s in redis postgres; do
    CTR[$s]=$(docker ps -q --filter "label=com.docker.compose.project=$P" \
        --filter "label=com.docker.compose.service=$s")
done
log "taking the raw tars (limit) and tar.gz (seeds) of both volumes"
compose stop >/dev/null 2>&1
for s in redis postgres; do
    docker cp "${CTR[$s]}:${MNT[$s]}" - >"$WORK/$s.tar"
    docker run --rm -v "${VOL[$s]}:/data" -v "$WORK:/backup" "$IMAGE" tar czf "/backup/$s.tar.gz" /data
done
compose start >/dev/null 2>&1
scripts/testdata.sh wait "$P" 120 >/dev/null
PG_RAW=$(stat -c %s "$WORK/postgres.tar")
REDIS_RAW=$(stat -c %s "$WORK/redis.tar")
PG_TGZ=$(stat -c %s "$WORK/postgres.tar.gz")

: >"$WORK/results" # round procedure key value

record() { echo "$1 $2 $3 $4" >>"$WORK/results"; }

# The journal of the last lifeboat run.
last_journal() { ls -t "$LIFEBOAT_STATE"/runs/*.jsonl | head -1; }
step_at() { # journal record id → epoch
    epoch "$(jq -r --arg r "$2" --arg id "$3" 'select(.record == $r and .id == $id) | .at' "$1" | head -1)"
}

# lifeboat RUNBOOK under GNU time; records wall, peak RSS, Enter→first step
# and each step's duration.
lifeboat_run() { # round procedure runbook [binary]
    local r=$1 proc=$2 start j first c0
    c0=$(cpu)
    start=$(now)
    /usr/bin/time -v -o "$WORK/time" "${4:-$BIN}" run "$3" --yes --set "project=$P" >"$WORK/out" 2>&1 ||
        { cat "$WORK/out" >&2; die "lifeboat run $3 failed"; }
    record "$r" "$proc" wall "$(sub "$start" "$(now)")"
    cpu_record "$r" "$proc" "$c0"
    record "$r" "$proc" cpu_self "$(awk -F': ' '/User time|System time/ { t += $2 } END { printf "%.2f", t }' "$WORK/time")"
    record "$r" "$proc" rss_mib "$(awk '/Maximum resident/ { printf "%.1f", $NF / 1024 }' "$WORK/time")"
    j=$(last_journal)
    first=$(jq -r 'select(.record == "step_started") | .at' "$j" | head -1)
    record "$r" "$proc" enter_to_first_step "$(sub "$start" "$(epoch "$first")")"
    jq -r 'select(.record == "step_finished") | "\(.id) \(.duration_ms / 1000)"' "$j" |
        while read -r id secs; do record "$r" "$proc" "step:$id" "$secs"; done
    echo "$j"
}

fdl_lifeboat() {
    lifeboat_run "$1" fdl-lifeboat full-data-loss >/dev/null
}

fdl_base() {
    lifeboat_run "$1" fdl-base full-data-loss "$BASE_BIN" >/dev/null
}

# One service's branch of the seeds' procedure.
seeds_branch() {
    local s=$1 c=${CTR[$1]}
    docker stop "$c" >/dev/null
    docker run --rm -v "${VOL[$s]}:/data" -v "$WORK/safety:/backup" "$IMAGE" \
        tar czf "/backup/$s.tar.gz" /data 2>/dev/null
    docker run --rm -v "${VOL[$s]}:/data" -v "$WORK:/backup" "$IMAGE" \
        sh -c "rm -rf /data/* /data/.[!.]* && cd / && tar xzf /backup/$s.tar.gz"
    docker start "$c" >/dev/null
    wait_healthy "$c"
}

fdl_seeds() {
    local start c0
    c0=$(cpu)
    start=$(now)
    local a b
    seeds_branch redis &
    a=$!
    seeds_branch postgres &
    b=$!
    wait "$a" && wait "$b" || die "the seeds' procedure failed"
    record "$1" fdl-seeds wall "$(sub "$start" "$(now)")"
    cpu_record "$1" fdl-seeds "$c0"
}

limit_branch() {
    local s=$1 c=${CTR[$1]}
    docker stop "$c" >/dev/null
    docker cp - "$c:$(dirname "${MNT[$s]}")" <"$WORK/$s.tar"
    docker start "$c" >/dev/null
    wait_healthy "$c"
}

fdl_limit() {
    local start c0
    c0=$(cpu)
    start=$(now)
    local a b
    limit_branch redis &
    a=$!
    limit_branch postgres &
    b=$!
    wait "$a" && wait "$b" || die "the limit procedure failed"
    record "$1" fdl-limit wall "$(sub "$start" "$(now)")"
    cpu_record "$1" fdl-limit "$c0"
}

cold_lifeboat() {
    local r=$1 j s
    j=$(lifeboat_run "$r" cold-lifeboat cold-backup)
    for s in redis postgres; do
        record "$r" cold-lifeboat "down:$s" \
            "$(sub "$(step_at "$j" step_started "stop-$s")" "$(step_at "$j" step_finished "start-$s")")"
    done
}

# One service's branch of the raw-copy limit of a cold backup; prints its downtime.
cold_limit_branch() {
    local s=$1 c=${CTR[$1]} t
    t=$(now)
    docker stop "$c" >/dev/null
    docker cp "$c:${MNT[$s]}" - >"$WORK/cold/$s.tar"
    sync -f "$WORK/cold/$s.tar"
    docker start "$c" >/dev/null
    wait_healthy "$c"
    sub "$t" "$(now)" >"$WORK/cold/$s.down"
}

cold_limit() {
    local start
    start=$(now)
    local a b
    cold_limit_branch redis &
    a=$!
    cold_limit_branch postgres &
    b=$!
    wait "$a" && wait "$b" || die "the cold-backup limit failed"
    record "$1" cold-limit wall "$(sub "$start" "$(now)")"
    for s in redis postgres; do record "$1" cold-limit "down:$s" "$(cat "$WORK/cold/$s.down")"; done
    rm -f "$WORK"/cold/*
}

# --- rounds ------------------------------------------------------------------
PROCS=(fdl_lifeboat fdl_seeds fdl_limit)
[ "$ONLY" = lifeboat ] && PROCS=(fdl_lifeboat)
[ -n "$BASE_BIN" ] && PROCS+=(fdl_base)
loads=()
for r in $(seq "$ROUNDS"); do
    log "== round $r (load average $(loadavg))"
    loads+=("$(loadavg)")
    cold_lifeboat "$r"
    log "  cold-backup lifeboat: postgres down $(awk -v r="$r" '$1 == r && $2 == "cold-lifeboat" && $3 == "down:postgres" { print $4 }' "$WORK/results") s"
    if [ "$ONLY" != lifeboat ]; then
        cold_limit "$r"
        log "  cold-backup limit: postgres down $(awk -v r="$r" '$1 == r && $2 == "cold-limit" && $3 == "down:postgres" { print $4 }' "$WORK/results") s"
    fi
    n=${#PROCS[@]}
    for i in $(seq 0 $((n - 1))); do
        p=${PROCS[$(((i + r - 1) % n))]}
        disaster
        "$p" "$r"
        log "  ${p/_/ }: $(awk -v r="$r" -v p="${p/_/-}" '$1 == r && $2 == p && $3 == "wall" { print $4 }' "$WORK/results") s (load $(loadavg))"
        check_data "$p"
    done
done

# --- report ------------------------------------------------------------------
get() { awk -v r="$1" -v p="$2" -v k="$3" '$1 == r && $2 == p && $3 == k { print $4 }' "$WORK/results"; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
med() { awk -v p="$1" -v k="$2" '$2 == p && $3 == k { print $4 }' "$WORK/results" | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "—" }'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.0f", b / 1048576 }'; }

stored=$(jq -s '[.[] | select((.source | endswith("_pg-data")) and (.tags | index("cold"))) | .stored_bytes] | last' \
    "$LIFEBOAT_STATE"/repo/backups/*pg-data/*.json 2>/dev/null || echo 0)
echo
echo "Machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(free -g | awk '/Mem:/ { print $2 }') GiB RAM," \
    "Docker $(docker version --format '{{.Server.Version}}'), $(rustc --version | cut -d' ' -f1-2)," \
    "$(date -u +%Y-%m-%dT%H:%MZ). PostgreSQL volume: $(mib "$PG_RAW") MiB raw tar, $(mib "$PG_TGZ") MiB tar.gz," \
    "$(mib "$stored") MiB stored by lifeboat (zstd); Redis $(mib "$REDIS_RAW") MiB. Load average at each round's start: ${loads[*]}; at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
echo
echo "full-data-loss, wall time (s), and lifeboat's Enter → first step and peak RSS:"
echo
echo "| round | lifeboat | seeds' tar | limit | lifeboat / limit | seeds / lifeboat | Enter → first step | peak RSS |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for r in $(seq "$ROUNDS"); do
    l=$(get "$r" fdl-lifeboat wall) s=$(get "$r" fdl-seeds wall) m=$(get "$r" fdl-limit wall)
    echo "| $r | $l | ${s:-—} | ${m:-—} | $(ratio "$l" "${m:-0}") | $(ratio "${s:-0}" "$l") | $(get "$r" fdl-lifeboat enter_to_first_step) | $(get "$r" fdl-lifeboat rss_mib) MiB |"
done
l=$(med fdl-lifeboat wall) s=$(med fdl-seeds wall) m=$(med fdl-limit wall)
echo "| **median** | **$l** | **${s:-—}** | **${m:-—}** | **$(ratio "$l" "${m:-0}")** | **$(ratio "${s:-0}" "$l")** | **$(med fdl-lifeboat enter_to_first_step)** | **$(med fdl-lifeboat rss_mib) MiB** |"
if [ -n "$BASE_BIN" ]; then
    echo
    echo "The same full-data-loss with BASE_BIN ($BASE_BIN), every round: wall $(awk '$2 == "fdl-base" && $3 == "wall" { printf "%s%s", sep, $4; sep = ", " }' "$WORK/results") s (median $(med fdl-base wall)); Enter → first step $(awk '$2 == "fdl-base" && $3 == "enter_to_first_step" { printf "%s%s", sep, $4; sep = ", " }' "$WORK/results") s; peak RSS median $(med fdl-base rss_mib) MiB."
fi
echo
echo "Where the time goes: host CPU seconds busy (both cores; lifeboat's own in"
echo "brackets) and in I/O wait, during each procedure; busy / (2 × wall) is how"
echo "full the $(nproc) cores were:"
echo
echo "| round | lifeboat busy (own) | limit busy | seeds busy | lifeboat iowait | limit iowait | lifeboat cores used | limit cores used |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
used() { awk -v b="$1" -v w="$2" -v n="$(nproc)" 'BEGIN { if (w > 0) printf "%.0f%%", 100 * b / (n * w); else print "—" }'; }
for r in $(seq "$ROUNDS"); do
    echo "| $r | $(get "$r" fdl-lifeboat cpu_busy) ($(get "$r" fdl-lifeboat cpu_self)) | $(get "$r" fdl-limit cpu_busy) | $(get "$r" fdl-seeds cpu_busy) | $(get "$r" fdl-lifeboat cpu_iowait) | $(get "$r" fdl-limit cpu_iowait) | $(used "$(get "$r" fdl-lifeboat cpu_busy)" "$(get "$r" fdl-lifeboat wall)") | $(used "$(get "$r" fdl-limit cpu_busy)" "$(get "$r" fdl-limit wall)") |"
done
echo "| **median** | **$(med fdl-lifeboat cpu_busy) ($(med fdl-lifeboat cpu_self))** | **$(med fdl-limit cpu_busy)** | **$(med fdl-seeds cpu_busy)** | **$(med fdl-lifeboat cpu_iowait)** | **$(med fdl-limit cpu_iowait)** | | |"
echo
echo "cold-backup, downtime (stopped → healthy again, s):"
echo
echo "| round | lifeboat postgres | limit postgres | lifeboat redis | limit redis | lifeboat wall | lifeboat peak RSS |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for r in $(seq "$ROUNDS"); do
    echo "| $r | $(get "$r" cold-lifeboat down:postgres) | $(get "$r" cold-limit down:postgres) | $(get "$r" cold-lifeboat down:redis) | $(get "$r" cold-limit down:redis) | $(get "$r" cold-lifeboat wall) | $(get "$r" cold-lifeboat rss_mib) MiB |"
done
lp=$(med cold-lifeboat down:postgres) mp=$(med cold-limit down:postgres)
echo "| **median** | **$lp** | **${mp:-—}** | **$(med cold-lifeboat down:redis)** | **$(med cold-limit down:redis)** | **$(med cold-lifeboat wall)** | **$(med cold-lifeboat rss_mib) MiB** |"
echo
echo "lifeboat's steps (s, every round):"
echo
echo "| runbook | step | rounds | median |"
echo "|---|---|---|---:|"
for proc in fdl-lifeboat fdl-base cold-lifeboat; do
    awk -v p="$proc" '$2 == p && $3 ~ /^step:/ { print substr($3, 6) }' "$WORK/results" | awk '!seen[$0]++' |
        while read -r id; do
            vals=$(awk -v p="$proc" -v k="step:$id" '$2 == p && $3 == k { printf "%s%.2f", sep, $4; sep = ", " }' "$WORK/results")
            echo "| ${proc/-lifeboat/} | $id | $vals | $(med "$proc" "step:$id" | xargs printf "%.2f") |"
        done
done
echo
echo "Targets:"
echo
echo "- lifeboat / limit: $(ratio "$l" "${m:-0}") (target ≤ 1.11, i.e. ≥ 90% of the limit's speed)"
echo "- seeds' procedure / lifeboat: $(ratio "${s:-0}" "$l") (target ≥ 2)"
echo "- Enter → first step: $(med fdl-lifeboat enter_to_first_step) s (target < 0.5 s)"
echo "- peak RSS: full-data-loss $(med fdl-lifeboat rss_mib) MiB, cold-backup $(med cold-lifeboat rss_mib) MiB (target < 64 MiB)"
echo "- cold-backup postgres downtime / limit: $(ratio "$lp" "${mp:-0}")"
