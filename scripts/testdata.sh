#!/usr/bin/env bash
# Known data for a running docker-compose.test.yml project, through docker exec.
#   testdata.sh wait  PROJECT [SECONDS]  until redis and postgres are healthy (default 60 s)
#   testdata.sh seed  PROJECT            replace all data with the known set, persisted to the volumes
#   testdata.sh check PROJECT            compare with the known set and report
#   testdata.sh grow  PROJECT [ROWS]     add table shop.big: ROWS rows of ~0.5 KiB (default
#                                        3,000,000: ~1.6 GiB on disk), for scripts/bench-rto.sh
#   testdata.sh check-big PROJECT [ROWS] compare shop.big with what grow wrote
# Exit: 0 = healthy / seeded / everything matches; 1 = check found differences
# (or wait timed out); 2 = usage error, or a container or command is not there.
#
# The data is defined once, as formulas, below: seed writes them and check has
# the server compute them again beside what it actually holds.
set -euo pipefail

REDIS_KEYS=10000
# key:N = value-N-<sha1 of key:N>, written and recomputed by Lua inside Redis.
REDIS_VALUE_LUA="local function value(i) return 'value-' .. i .. '-' .. redis.sha1hex('key:' .. i) end"
# PostgreSQL database shop: one SELECT per table, in the table's column order,
# with the same types; the first column is the id.
TABLES=(customers orders)
declare -A DDL=(
  [customers]="id int PRIMARY KEY, name text NOT NULL, email text NOT NULL, created_on date NOT NULL"
  [orders]="id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customers, amount_cents int NOT NULL, status text NOT NULL"
)
declare -A ROWS=(
  [customers]="SELECT i, 'customer ' || i || ' ' || left(md5(i::text), 8), 'c' || i || '@example.test',
                      date '2020-01-01' + i % 1500
               FROM generate_series(1, 5000) AS i"
  [orders]="SELECT i, 1 + (i * 7919) % 5000, (i * 37) % 100000,
                   (ARRAY['new', 'paid', 'shipped', 'returned'])[1 + i % 4]
            FROM generate_series(1, 20000) AS i"
)

# shop.big (grow): row i = (i, 16 × md5(i)); not part of the normal seed, so
# the tests stay fast. Not TOASTed (under 2 KiB), so it takes ~1.6 GiB on disk
# and compresses about 8× (repeated text, as real tables have).
BIG_ROWS=3000000
BIG_PAYLOAD="repeat(md5(id::text), 16)"

die() { echo "testdata: $*" >&2; exit 2; }
[[ $# -ge 2 ]] || die "usage: $0 wait|seed|check|grow|check-big PROJECT [SECONDS|ROWS]"
cmd=$1 project=$2

# Found by compose labels, so it also finds a container lifeboat recreated.
container() {
  local ids
  ids=$(docker ps -q --filter "label=com.docker.compose.project=$project" \
    --filter "label=com.docker.compose.service=$1")
  [[ -n $ids && $ids != *$'\n'* ]] ||
    die "want one running $1 container in compose project $project, found: ${ids:-none}"
  echo "$ids"
}
# -e: without it redis-cli exits 0 on an error reply.
redis() { docker exec "$redis_c" redis-cli -e "$@" || die "redis-cli $1 failed"; }
psql() {
  docker exec -i -e PGOPTIONS='-c client_min_messages=warning' "$pg_c" \
    psql -X -q -A -t -v ON_ERROR_STOP=1 -U postgres "$@" || die "psql failed"
}

wait_healthy() {
  local deadline=$((SECONDS + ${1:-60})) service state
  for service in redis postgres; do
    while :; do
      state=$(docker ps -aq --filter "label=com.docker.compose.project=$project" \
        --filter "label=com.docker.compose.service=$service" |
        xargs -r docker inspect -f '{{.State.Status}} {{.State.Health.Status}}')
      [[ $state == "running healthy" ]] && break
      # An exited server will not come back by itself: fail now, not at the deadline.
      if [[ $state == exited* ]] || ((SECONDS >= deadline)); then
        echo "testdata: $service is ${state:-missing}, not running healthy" >&2
        exit 1
      fi
      sleep 0.5
    done
  done
  echo "$project: redis and postgres healthy"
}

seed() {
  redis FLUSHALL >/dev/null
  redis EVAL "$REDIS_VALUE_LUA
    for i = 1, tonumber(ARGV[1]) do redis.call('SET', 'key:' .. i, value(i)) end" 0 "$REDIS_KEYS" >/dev/null
  # The AOF is already written; SAVE also puts an RDB on the volume.
  redis SAVE >/dev/null
  local sql="" t
  for t in "${TABLES[@]}"; do
    sql+="CREATE TABLE $t (${DDL[$t]}); INSERT INTO $t ${ROWS[$t]};"$'\n'
  done
  psql -d postgres -c 'DROP DATABASE IF EXISTS shop WITH (FORCE)' -c 'CREATE DATABASE shop'
  psql -d shop -1 <<<"$sql"
  # The rows go to the data files, not only to the WAL.
  psql -d shop -c CHECKPOINT
  echo "$project: seeded redis ($REDIS_KEYS keys) and postgres shop (${TABLES[*]})"
}

check() {
  local problems=() out
  # Redis: count and compare every expected key, then digest all keys (sorted)
  # against the digest of the expected set.
  out=$(redis EVAL "$REDIS_VALUE_LUA
    local n, missing, wrong, want = tonumber(ARGV[1]), 0, 0, {}
    for i = 1, n do
      local k, v = 'key:' .. i, value(i)
      local got = redis.pcall('GET', k)
      if not got then missing = missing + 1 elseif got ~= v then wrong = wrong + 1 end
      want[i] = k .. '=' .. v
    end
    local keys, have = redis.call('KEYS', '*'), {}
    for i, k in ipairs(keys) do
      local v = redis.pcall('GET', k)
      have[i] = k .. '=' .. (type(v) == 'string' and v or '<not a string>')
    end
    table.sort(have)
    table.sort(want)
    return {#keys, missing, wrong, redis.sha1hex(table.concat(have, '\n')),
            redis.sha1hex(table.concat(want, '\n'))}" 0 "$REDIS_KEYS")
  local dbsize missing wrong digest want
  read -r dbsize missing wrong digest want <<<"${out//$'\n'/ }"
  local extra=$((dbsize - (REDIS_KEYS - missing)))
  printf 'redis     %-9s %6d keys (want %d)  digest %.12s (want %.12s)\n' \
    db0 "$dbsize" "$REDIS_KEYS" "$digest" "$want"
  ((missing == 0)) || problems+=("redis: $missing of $REDIS_KEYS keys missing")
  ((wrong == 0)) || problems+=("redis: $wrong key(s) with a wrong value")
  ((extra == 0)) || problems+=("redis: $extra unexpected key(s)")
  [[ $digest == "$want" ]] || problems+=("redis: digest over all keys differs")

  local shop
  shop=$(psql -d postgres -c "SELECT count(*) FROM pg_database WHERE datname = 'shop'")
  if ((shop == 0)); then
    problems+=("postgres: database shop is missing")
  else
    # One session; psql's \if skips a missing table instead of failing on it.
    local sql="" t
    for t in "${TABLES[@]}"; do
      sql+="SELECT to_regclass('public.$t') IS NOT NULL AS present \\gset
\\if :present
  SELECT '$t', count(*), md5(string_agg(t::text, E'\\n' ORDER BY id)) FROM $t t;
  SELECT '$t', count(*), md5(string_agg(e::text, E'\\n' ORDER BY id)) FROM (${ROWS[$t]}) e(id);
\\else
  SELECT '$t', 'missing'; SELECT '$t', 'missing';
\\endif
"
    done
    out=$(psql -d shop -F ' ' <<<"$sql")
    local have_t have_n have_md5 want_n want_md5
    while read -r have_t have_n have_md5 && read -r _ want_n want_md5; do
      if [[ $have_n == missing ]]; then
        printf 'postgres  %-9s missing\n' "$have_t"
        problems+=("postgres: table shop.$have_t is missing")
        continue
      fi
      printf 'postgres  %-9s %6d rows (want %d)  md5 %.12s (want %.12s)\n' \
        "$have_t" "$have_n" "$want_n" "$have_md5" "$want_md5"
      ((have_n == want_n)) || problems+=("postgres: shop.$have_t has $have_n rows, want $want_n")
      [[ $have_md5 == "$want_md5" ]] || problems+=("postgres: shop.$have_t content differs")
    done <<<"$out"
  fi

  if ((${#problems[@]} == 0)); then
    echo "$project: OK, data matches the seed"
  else
    echo "$project: FAILED, ${#problems[@]} difference(s):"
    printf '  - %s\n' "${problems[@]}"
    exit 1
  fi
}

grow() {
  local rows=${1:-$BIG_ROWS}
  psql -d shop -c 'DROP TABLE IF EXISTS big' \
    -c 'CREATE TABLE big (id int NOT NULL, payload text NOT NULL)' \
    -c "INSERT INTO big SELECT id, $BIG_PAYLOAD FROM generate_series(1, $rows) AS id" \
    -c CHECKPOINT
  echo "$project: shop.big has $rows rows ($(psql -d shop -c "SELECT pg_size_pretty(pg_total_relation_size('big'))"))"
}

# Every row of shop.big recomputed beside what is stored: count, distinct
# ids 1..ROWS, and no payload that differs from its formula.
check_big() {
  local rows=${1:-$BIG_ROWS} present out n distinct lo hi wrong
  present=$(psql -d shop -c "SELECT to_regclass('public.big') IS NOT NULL")
  if [[ $present != t ]]; then
    echo "$project: FAILED, table shop.big is missing"
    exit 1
  fi
  out=$(psql -d shop -F ' ' -c "SELECT count(*), count(DISTINCT id), coalesce(min(id), 0),
    coalesce(max(id), 0), count(*) FILTER (WHERE payload IS DISTINCT FROM $BIG_PAYLOAD) FROM big")
  read -r n distinct lo hi wrong <<<"$out"
  printf 'postgres  %-9s %7d rows (want %d), %d distinct ids %d..%d, %d wrong payloads\n' \
    big "$n" "$rows" "$distinct" "$lo" "$hi" "$wrong"
  if ((n == rows && distinct == rows && lo == 1 && hi == rows && wrong == 0)); then
    echo "$project: OK, shop.big matches"
  else
    echo "$project: FAILED, shop.big differs from what grow wrote"
    exit 1
  fi
}

case $cmd in
  wait) wait_healthy "${3:-60}" ;;
  seed | check)
    redis_c=$(container redis)
    pg_c=$(container postgres)
    "$cmd"
    ;;
  grow | check-big)
    pg_c=$(container postgres)
    if [[ $cmd == grow ]]; then grow "${3:-}"; else check_big "${3:-}"; fi
    ;;
  *) die "unknown command $cmd (want wait, seed, check, grow or check-big)" ;;
esac
