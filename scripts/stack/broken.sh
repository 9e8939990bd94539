#!/bin/sh
# Copied over every server entrypoint in lifeboat-test/stack:broken: a bad
# upgrade whose server no longer starts. The container exits at once with 1 and
# never becomes healthy; the volume is left untouched.
echo "lifeboat-test/stack:broken: simulated bad upgrade, $(basename "$0") refuses to start" >&2
exit 1
