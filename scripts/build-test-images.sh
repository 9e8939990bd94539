#!/usr/bin/env bash
# Builds the images the Docker tests need, without any registry (docs/architecture.md §9):
#   lifeboat-test/stack:local   Debian bookworm + Redis 7 + PostgreSQL 15 (+ procps, to debug)
#   lifeboat-test/stack:broken  the same, but neither server starts (a bad upgrade)
#   lifeboat/helper:local       one static file; only ever created, as a mount point for the archive API
# Does nothing for images that are up to date; --force rebuilds all three.
# Images carry a hash of their inputs, so editing scripts/stack/* rebuilds them.
# Run as root. LIFEBOAT_MIRROR overrides the Debian mirror read from apt's sources.
set -euo pipefail

usage() { echo "usage: $0 [--force]" >&2; exit 2; }
force=false
case "${1:-}" in
  --force) force=true ;;
  "") ;;
  *) usage ;;
esac

cd "$(dirname "$0")/.."
STACK=lifeboat-test/stack:local
BROKEN=lifeboat-test/stack:broken
HELPER=lifeboat/helper:local
inputs=$(cat scripts/build-test-images.sh scripts/stack/* | sha256sum | cut -c1-16)

# Up to date = present and built from these inputs.
current() {
  [[ $(docker image inspect -f '{{index .Config.Labels "lifeboat.inputs"}}' "$1" 2>/dev/null) == "$inputs" ]]
}

# The mirror this machine's apt already uses: test machines reach no other.
# Prefers a source that carries bookworm, then any Debian main-archive suite.
debian_mirror() {
  if [[ -n ${LIFEBOAT_MIRROR:-} ]]; then echo "$LIFEBOAT_MIRROR"; return; fi
  local suites='^(bookworm|trixie|forky|sid|stable|testing|unstable)$'
  {
    shopt -s nullglob
    local sources=(/etc/apt/sources.list.d/*.sources) lists=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list)
    # deb822: one stanza per paragraph.
    [[ ${#sources[@]} -eq 0 ]] || awk -v RS= -v FS='\n' -v re="$suites" '{
      types = uris = suites = ""; enabled = 1
      for (i = 1; i <= NF; i++) {
        if ($i ~ /^Types:/) types = " " substr($i, 7) " "
        else if ($i ~ /^URIs:/) { split(substr($i, 6), u, " "); uris = u[1] }
        else if ($i ~ /^Suites:/) suites = substr($i, 8)
        else if ($i ~ /^Enabled: *no/) enabled = 0
      }
      if (!enabled || types !~ / deb / || uris == "") next
      n = split(suites, s, " ")
      for (j = 1; j <= n; j++) if (s[j] ~ re) print (s[j] == "bookworm" ? 0 : 1), uris
    }' "${sources[@]}"
    # One-line format: deb [options] URI SUITE COMPONENTS...
    for f in "${lists[@]}"; do
      [[ -f $f ]] || continue
      awk -v re="$suites" '$1 == "deb" {
        i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
        if ($(i + 1) ~ re) print ($(i + 1) == "bookworm" ? 0 : 1), $i
      }' "$f"
    done
  } | sort -s -n -k1,1 | awk 'NR == 1 { print $2 }' | grep . ||
    { echo "no Debian mirror found in /etc/apt; set LIFEBOAT_MIRROR" >&2; return 1; }
}

work=$(mktemp -d /var/tmp/lifeboat-images.XXXXXX)
cid=""
cleanup() {
  [[ -z $cid ]] || docker rm -f "$cid" >/dev/null 2>&1 || true
  # An interrupted debootstrap leaves /proc and /sys mounted inside the rootfs.
  awk -v d="$work/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r | xargs -r umount -l
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

# Images a rebuild replaces; untagged ones are removed at the end, children
# (the broken image) before their parent.
replaced=()
replacing() { replaced=("$(docker image inspect -f '{{.Id}}' "$1" 2>/dev/null || true)" "${replaced[@]}"); }

SECONDS=0
built_stack=false
if $force || ! current "$STACK"; then
  replacing "$STACK"
  command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
  mirror=$(debian_mirror)
  echo "debootstrap bookworm from $mirror ..."
  root=$work/rootfs
  if ! debootstrap --variant=minbase --include=redis-server,redis-tools,postgresql,procps \
      bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1; then
    tail -n 30 "$work/debootstrap.log" >&2
    exit 1
  fi
  # Package caches, docs and the cluster the package created are dead weight:
  # the postgres service runs initdb into its own volume.
  rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/usr/share/{doc,man,info,locale} \
    "$root"/var/lib/postgresql/* "$root"/etc/postgresql/*
  install -m 755 scripts/stack/redis.sh "$root/usr/local/bin/stack-redis"
  install -m 755 scripts/stack/postgres.sh "$root/usr/local/bin/stack-postgres"
  pgbin=$(cd "$root" && echo usr/lib/postgresql/*/bin)
  # The server's own bin first: /usr/bin/psql etc. are wrappers that want a cluster in /etc/postgresql.
  tar --numeric-owner -C "$root" -c . | docker import \
    --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/$pgbin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["bash"]' \
    --change "LABEL lifeboat.inputs=$inputs" \
    - "$STACK" >/dev/null
  built_stack=true
  echo "built $STACK"
fi

# A layer on top of the stack image, via create/cp/commit: no builder needed.
if $force || $built_stack || ! current "$BROKEN"; then
  replacing "$BROKEN"
  cid=$(docker create "$STACK")
  docker cp scripts/stack/broken.sh "$cid:/usr/local/bin/stack-redis"
  docker cp scripts/stack/broken.sh "$cid:/usr/local/bin/stack-postgres"
  docker commit --change 'CMD ["bash"]' "$cid" "$BROKEN" >/dev/null
  docker rm "$cid" >/dev/null
  cid=""
  echo "built $BROKEN"
fi

# Equivalent to FROM scratch + COPY of one file. A CMD is needed only because
# Docker refuses to create a container without a command.
if $force || ! current "$HELPER"; then
  replacing "$HELPER"
  mkdir "$work/helper"
  echo "lifeboat helper: this container is only created, never started" >"$work/helper/lifeboat-helper"
  tar --numeric-owner -C "$work/helper" -c . | docker import \
    --change 'CMD ["/lifeboat-helper"]' \
    --change "LABEL lifeboat.inputs=$inputs" \
    - "$HELPER" >/dev/null
  echo "built $HELPER"
fi

for id in "${replaced[@]}"; do
  # Removal fails, harmlessly, while a container still uses the old image.
  if [[ -n $id && $(docker image inspect -f '{{len .RepoTags}}' "$id" 2>/dev/null) == 0 ]]; then
    docker image rm "$id" >/dev/null 2>&1 || true
  fi
done
echo "images ready: $STACK, $BROKEN, $HELPER (${SECONDS}s)"
