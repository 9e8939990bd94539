#!/usr/bin/env bash
# Volume backup and restore benchmark (docs/benchmarks.md, "Volume backup and
# restore"). Builds examples/volume_io, generates deterministic mixed-data
# volumes, times lifeboat backup/restore against `tar czf`/`tar xzf` in a
# container and the raw `docker cp` archive stream, checks one round trip,
# prints markdown tables and removes what it created.
#
# Knobs (environment):
#   SIZE_GIB="1 4"   volume sizes (GiB, decimals allowed) for lifeboat backup+restore
#   BASE_GIB=1       size for the docker CLI methods and the phase breakdown ("" skips them)
#   RUNS=3           repetitions of every measurement (the median is reported)
#   SEED=42          data generator seed
#   IMAGE=lifeboat-test/stack:local
#   WORK=/var/tmp/lifeboat-bench   scratch dir (repositories, tar.gz, raw tar)
#   KEEP=0           1: keep the generated source volumes (reused by the next run)
#   BUILD=1          0: use the existing target/release/examples/volume_io
# Needs: docker, GNU time (/usr/bin/time), zstd and openssl on the host.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_GIB=${SIZE_GIB:-"1 4"}
BASE_GIB=${BASE_GIB-1}
RUNS=${RUNS:-3}
SEED=${SEED:-42}
IMAGE=${IMAGE:-lifeboat-test/stack:local}
WORK=${WORK:-/var/tmp/lifeboat-bench}
KEEP=${KEEP:-0}
BUILD=${BUILD:-1}
P=lifeboat-bench
BIN=target/release/examples/volume_io
GEN_VERSION=1

log() { printf '%s\n' "$*" >&2; }
die() { log "bench-volume: $*"; exit 1; }
[ -x /usr/bin/time ] || die "GNU time missing (apt-get install -y time)"
command -v zstd >/dev/null || die "zstd missing"
docker image inspect "$IMAGE" >/dev/null 2>&1 || die "image $IMAGE missing (scripts/build-test-images.sh)"

# --- cleanup (also of an interrupted earlier run) ----------------------------
cleanup() {
    docker rm -f "$P-cp" >/dev/null 2>&1 || true
    docker volume rm -f "$P-dst" >/dev/null 2>&1 || true
    if [ "$KEEP" != 1 ]; then
        for v in $(docker volume ls -q --filter "name=^$P-src-"); do docker volume rm -f "$v" >/dev/null; done
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
cleanup
mkdir -p "$WORK"
df -h "$WORK" /var/lib/docker 2>/dev/null | sed 's/^/  /' >&2 || true

if [ "$BUILD" = 1 ]; then
    log "building examples/volume_io (release)"
    cargo build --release --example volume_io >&2
fi

# --- data --------------------------------------------------------------------
bytes_of() { awk -v g="$1" 'BEGIN { printf "%.0f", g * 1073741824 }'; }
vol_of() { echo "$P-src-$1g"; }

# perl - TOTAL_BYTES SEED DIR: half text-like files (slices of a 32 MiB corpus
# of random words and numbered lines), half random bytes (AES-CTR keystream);
# sizes log-uniform from 1 KiB to 20 MiB, in 16 directories per kind.
GEN_PL=$(cat <<'EOF'
use strict; use warnings;
my ($total, $seed, $dir) = @ARGV;
srand($seed);
my @l = ('a'..'z');
my @vocab = map { my $n = 1 + int(rand(rand() < 0.7 ? 6 : 12)); join '', map { $l[int rand 26] } 0..$n } 1..16384;
my @punct = (('') x 12, ',', ',', '.', ';', ':');
my ($corpus, $line) = ('', 0);
while (length $corpus < 32 << 20) {
    $corpus .= sprintf '%07d ', $line if rand() < 0.3;
    $corpus .= join(' ', map { $vocab[int(rand() ** 3 * 16384)] . $punct[int rand @punct] } 1 .. 3 + int rand 14) . "\n";
    $line++;
}
my $clen = length $corpus;
my ($min, $max) = (log(1024), log(20 << 20));
my $half = int($total / 2);
my ($text, $bin, $n) = (0, 0, 0);
sub mk { for (@_) { -d $_ or mkdir $_ or die "mkdir $_: $!" } }
mk($dir, "$dir/text", "$dir/bin");
while ($text < $half || $bin < $half) {
    my $is_text = $text < $half && ($bin >= $half || $n % 2 == 0);
    my $left = $is_text ? $half - $text : $half - $bin;
    my $size = int(exp($min + rand() * ($max - $min)));
    $size = $left if $size > $left || $left - $size < 1024;
    my $sub = sprintf '%s/%s/d%02d', $dir, $is_text ? 'text' : 'bin', $n % 16;
    mk($sub);
    my $path = sprintf '%s/f%05d.%s', $sub, $n, $is_text ? 'txt' : 'bin';
    if ($is_text) {
        open my $fh, '>', $path or die "$path: $!";
        my $done = 0;
        while ($done < $size) {
            my $at = index($corpus, "\n", int rand($clen - (300 << 10))) + 1;
            my $len = (4 << 10) + int rand(252 << 10);
            $len = $size - $done if $len > $size - $done;
            print $fh substr($corpus, $at, $len);
            $done += $len;
        }
        close $fh or die "$path: $!";
        $text += $size;
    } else {
        my $key = sprintf '%016x%016x', $seed, $n;
        system("openssl enc -aes-128-ctr -K $key -iv 0 -in /dev/zero 2>/dev/null | head -c $size > '$path'") == 0
            or die "openssl $path";
        $bin += $size;
    }
    $n++;
}
print "files=$n text_bytes=$text random_bytes=$bin\n";
EOF
)

# Creates (or reuses, if complete and of the same spec) the source volume.
ensure_volume() {
    local gib=$1 vol spec
    vol=$(vol_of "$gib")
    spec="gen=$GEN_VERSION bytes=$(bytes_of "$gib") seed=$SEED"
    if docker volume inspect "$vol" >/dev/null 2>&1 &&
        [ "$(docker run --rm -v "$vol:/data:ro" "$IMAGE" cat /data/.bench-spec 2>/dev/null)" = "$spec" ]; then
        log "reusing volume $vol ($spec)"
        return
    fi
    docker volume rm -f "$vol" >/dev/null 2>&1 || true
    docker volume create "$vol" >/dev/null
    log "generating $vol ($spec)"
    local t0=$SECONDS
    printf '%s\n' "$GEN_PL" | docker run --rm -i -v "$vol:/data" "$IMAGE" \
        sh -c "perl - $(bytes_of "$gib") $SEED /data/mixed && printf '%s\n' '$spec' > /data/.bench-spec" >&2
    log "  generated in $((SECONDS - t0)) s"
}

# Content and metadata digest of a volume.
vol_digest() {
    docker run --rm -v "$1:/data:ro" "$IMAGE" sh -c \
        'cd /data && { find . -printf "%y %m %u %g %s %p\n" | LC_ALL=C sort; find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; } | sha256sum'
}

fresh_dst() {
    docker volume rm -f "$P-dst" >/dev/null 2>&1 || true
    docker volume create "$P-dst" >/dev/null
}

# --- measuring ---------------------------------------------------------------
# timed LABEL CMD...: one run under GNU time; appends "LABEL secs rss_kib" to
# $WORK/results and leaves the command's stdout in $WORK/last.
timed() {
    local label=$1
    shift
    /usr/bin/time -f '%e %M' -o "$WORK/time" "$@" >"$WORK/last"
    echo "$label $(cat "$WORK/time")" >>"$WORK/results"
    log "  $label: $(cat "$WORK/time") | $(head -c 300 "$WORK/last")"
}
field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" "$WORK/last"; }

declare -A RAW  # raw tar bytes per size (from the lifeboat manifest)
declare -A STORED
declare -A FILES

bench_lifeboat() {
    local gib=$1 vol repo id
    vol=$(vol_of "$gib")
    repo="$WORK/repo-$gib"
    for i in $(seq "$RUNS"); do
        timed "lifeboat-backup@$gib" "$BIN" backup "$vol" "$repo"
    done
    id=$(field id)
    RAW[$gib]=$(field raw_bytes)
    STORED[$gib]=$(field stored_bytes)
    FILES[$gib]=$(field files)
    for i in $(seq "$RUNS"); do
        fresh_dst
        timed "lifeboat-restore@$gib" "$BIN" restore "$P-dst" "$repo" "$id"
    done
    log "  checking the round trip of $vol"
    local a b
    a=$(vol_digest "$vol")
    b=$(vol_digest "$P-dst")
    [ "$a" = "$b" ] || die "round trip of $vol differs: $a vs $b"
    echo "$gib $a" >>"$WORK/roundtrip"
    if [ "$gib" = "$BASE_GIB" ]; then
        echo "$id" >"$WORK/base-id"
    else
        rm -rf "$repo"
    fi
    docker volume rm -f "$P-dst" >/dev/null
}

bench_docker_cli() {
    local gib=$1 vol
    vol=$(vol_of "$gib")
    mkdir -p "$WORK/tgz"
    for i in $(seq "$RUNS"); do
        rm -f "$WORK/tgz/x.tar.gz"
        timed "tar-czf@$gib" docker run --rm -v "$vol:/data" -v "$WORK/tgz:/backup" "$IMAGE" \
            tar czf /backup/x.tar.gz /data
    done
    echo "$(stat -c %s "$WORK/tgz/x.tar.gz")" >"$WORK/tgz-bytes"
    for i in $(seq "$RUNS"); do
        fresh_dst
        timed "tar-xzf@$gib" docker run --rm -v "$P-dst:/data" -v "$WORK/tgz:/backup" "$IMAGE" \
            sh -c 'cd / && tar xzf /backup/x.tar.gz'
    done
    rm -rf "$WORK/tgz"
    docker rm -f "$P-cp" >/dev/null 2>&1 || true
    docker create --name "$P-cp" -v "$vol:/data" "$IMAGE" true >/dev/null
    for i in $(seq "$RUNS"); do
        timed "docker-cp@$gib" sh -c "docker cp $P-cp:/data - > /dev/null"
    done
    docker rm -f "$P-cp" >/dev/null
}

# Phases of backup and restore, timed apart (same data, same tools).
bench_phases() {
    local gib=$1 vol repo id raw obj
    vol=$(vol_of "$gib")
    repo="$WORK/repo-$gib"
    id=$(cat "$WORK/base-id")
    raw="$WORK/raw.tar"
    docker create --name "$P-cp" -v "$vol:/data" "$IMAGE" true >/dev/null
    docker cp "$P-cp:/data" - >"$raw"
    docker rm -f "$P-cp" >/dev/null
    obj=$(find "$repo" -name "$id.tar.zst")
    local threads
    threads=$(nproc)
    for i in $(seq "$RUNS"); do
        timed "phase-zstd-3-T$threads@$gib" zstd -q -3 -T"$threads" -c "$raw" -o /dev/null
        timed "phase-zstd-1-T$threads@$gib" zstd -q -1 -T"$threads" -c "$raw" -o /dev/null
        timed "phase-sha256-stored@$gib" openssl dgst -sha256 "$obj"
        timed "phase-write-no-docker@$gib" "$BIN" write "$WORK/repo-write" "$raw"
        rm -rf "$WORK/repo-write"
        timed "phase-zstd-d@$gib" zstd -q -d -c "$obj" -o /dev/null
        timed "phase-read-no-docker@$gib" "$BIN" read "$repo" "$id"
        echo "phase-read-pass1@$gib $(field pass1_seconds) 0" >>"$WORK/results"
        echo "phase-read-pass2@$gib $(field pass2_seconds) 0" >>"$WORK/results"
        fresh_dst
        docker create --name "$P-cp" -v "$P-dst:/data" "$IMAGE" true >/dev/null
        timed "phase-archive-put@$gib" sh -c "docker cp - $P-cp:/ < '$raw'"
        docker rm -f "$P-cp" >/dev/null
    done
    rm -f "$raw"
    rm -rf "$repo"
    docker volume rm -f "$P-dst" >/dev/null
}

# --- run ---------------------------------------------------------------------
: >"$WORK/results"
: >"$WORK/roundtrip"
sizes=$(printf '%s\n' $SIZE_GIB $BASE_GIB | awk '!seen[$0]++')
for gib in $sizes; do
    ensure_volume "$gib"
    log "== ${gib} GiB"
    if printf '%s\n' $SIZE_GIB | grep -qx "$gib" || [ "$gib" = "$BASE_GIB" ]; then
        bench_lifeboat "$gib"
    fi
    if [ "$gib" = "$BASE_GIB" ]; then
        bench_docker_cli "$gib"
        bench_phases "$gib"
    fi
    [ "$KEEP" = 1 ] || docker volume rm -f "$(vol_of "$gib")" >/dev/null
done

# --- report ------------------------------------------------------------------
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
med() { awk -v l="$1" '$1 == l { print $'"$2"' }' "$WORK/results" | median; }
runs() { awk -v l="$1" '$1 == l { printf "%s%s", sep, $2; sep = ", " }' "$WORK/results"; }
mib() { awk -v b="$1" 'BEGIN { printf "%.0f", b / 1048576 }'; }
rate() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.0f", b / 1048576 / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo
echo "Machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(free -g | awk '/Mem:/ { print $2 }') GiB RAM," \
    "Docker $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})'), storage driver" \
    "$(docker info --format '{{.Driver}}'), $(rustc --version | cut -d' ' -f1-2). $RUNS runs each, median; page cache warm; load average at the end: $(cut -d" " -f1-3 /proc/loadavg)."
echo
echo "| method | volume | raw tar | runs (s) | median | rate (raw) | peak RSS (median) |"
echo "|---|---:|---:|---|---:|---:|---:|"
row() { # label gib text rss?
    local label="$1@$2" m
    m=$(med "$label" 2)
    [ -n "$m" ] || return 0
    local rss="—"
    [ "$4" = rss ] && rss="$(awk -v k="$(med "$label" 3)" 'BEGIN { printf "%.1f MiB", k / 1024 }')"
    echo "| $3 | $2 GiB | $(mib "${RAW[$2]}") MiB | $(runs "$label") | $m s | $(rate "${RAW[$2]}" "$m") MiB/s | $rss |"
}
for gib in $sizes; do
    row lifeboat-backup "$gib" "lifeboat backup (\`volume_io backup\`)" rss
    row lifeboat-restore "$gib" "lifeboat restore (\`volume_io restore\`)" rss
done
if [ -n "$BASE_GIB" ]; then
    row tar-czf "$BASE_GIB" "(a) \`docker run … tar czf\`" no
    row tar-xzf "$BASE_GIB" "(a) \`docker run … tar xzf\`" no
    row docker-cp "$BASE_GIB" "(b) \`docker cp C:/data - > /dev/null\`" no
fi
echo
for gib in $sizes; do
    [ -n "${RAW[$gib]:-}" ] || continue
    echo "- ${gib} GiB: $(mib "${RAW[$gib]}") MiB raw tar, ${FILES[$gib]} files, stored $(mib "${STORED[$gib]}") MiB (zstd ratio $(ratio "${RAW[$gib]}" "${STORED[$gib]}")); round trip digest equal: $(awk -v g="$gib" '$1 == g { print substr($2, 1, 16) }' "$WORK/roundtrip")"
done
if [ -n "$BASE_GIB" ] && [ -n "$(med "tar-czf@$BASE_GIB" 2)" ]; then
    b=$BASE_GIB
    echo "- (a) tar.gz: $(mib "$(cat "$WORK/tgz-bytes")") MiB"
    echo
    echo "Targets at $b GiB:"
    echo
    echo "- backup vs (a): $(ratio "$(med "tar-czf@$b" 2)" "$(med "lifeboat-backup@$b" 2)")× faster (target ≥ 3×)"
    echo "- backup rate vs (b): $(awk -v a="$(med "docker-cp@$b" 2)" -v l="$(med "lifeboat-backup@$b" 2)" 'BEGIN { printf "%.0f%%", 100 * a / l }') (target ≥ 70%)"
    echo "- restore vs (a): $(ratio "$(med "tar-xzf@$b" 2)" "$(med "lifeboat-restore@$b" 2)")× faster (target ≥ 3×)"
fi
rss_sizes=$(for g in $sizes; do [ -n "$(med "lifeboat-backup@$g" 3)" ] && echo "$g"; done | sort -g)
if [ "$(echo "$rss_sizes" | wc -l)" -ge 2 ]; then
    lo=$(echo "$rss_sizes" | head -1)
    hi=$(echo "$rss_sizes" | tail -1)
    for op in backup restore; do
        echo "- peak RSS $op ${lo} → ${hi} GiB: $(awk -v a="$(med "lifeboat-$op@$lo" 3)" -v b="$(med "lifeboat-$op@$hi" 3)" 'BEGIN { printf "%.1f → %.1f MiB (%+.0f%%)", a / 1024, b / 1024, 100 * (b - a) / a }') (target < 100 MiB, within 20%)"
    done
fi
if [ -n "$BASE_GIB" ] && [ -n "$(med "phase-zstd-d@$BASE_GIB" 2)" ]; then
    b=$BASE_GIB
    echo
    echo "Phases at $b GiB (median s, rate of raw tar bytes):"
    echo
    echo "| phase | median | rate | peak RSS |"
    echo "|---|---:|---:|---:|"
    for p in "docker-cp:archive GET to /dev/null (= (b))" \
        "phase-zstd-3-T$(nproc):\`zstd -3 -T$(nproc)\` of the raw tar (CLI)" \
        "phase-write-no-docker:\`volume_io write\`: BackupWriter alone (zstd+sha256+scan+fsync)" \
        "phase-zstd-1-T$(nproc):\`zstd -1 -T$(nproc)\` of the raw tar (CLI)" \
        "phase-sha256-stored:\`openssl dgst -sha256\` of the stored object" \
        "phase-zstd-d:\`zstd -d\` of the stored object (CLI)" \
        "phase-read-no-docker:\`volume_io read\`: pass 1 + pass 2, no Docker" \
        "phase-read-pass1:  pass 1 (\`open_verified\`)" \
        "phase-read-pass2:  pass 2 (verified reader)" \
        "phase-archive-put:archive PUT of the raw tar (\`docker cp - C:/\`)"; do
        label="${p%%:*}@$b"
        m=$(med "$label" 2)
        [ -n "$m" ] || continue
        k=$(med "$label" 3)
        r="—"
        case "$label" in phase-write* | phase-read-no*) r=$(awk -v k="$k" 'BEGIN { printf "%.1f MiB", k / 1024 }') ;; esac
        echo "| ${p#*:} | $m s | $(rate "${RAW[$b]}" "$m") MiB/s | $r |"
    done
fi
