#!/bin/sh
# The fuzzers, longer than the test suite runs them: each harness of
# test/fuzz for SECONDS (default 60), or FUZZ_RUNS executions, one after the
# other (2 shared cores), keeping and growing its corpus in
# build-fuzz/corpus between runs. Prints executions, exec/s, coverage and
# crashes per harness; exits 1 on a crash (the input is in
# build-fuzz/run/<harness>/crashes).
#   bench/fuzz.sh [SECONDS] [HARNESS...]
#   FUZZ_RUNS=10000000 bench/fuzz.sh - election gossip
set -eu
here=$(cd "$(dirname "$0")" && pwd)
secs=${1:-60}
[ $# -gt 0 ] && shift
if [ -n "${FUZZ_RUNS:-}" ]; then
    exec "$here/../test/fuzz/fuzz.sh" -k -n "$FUZZ_RUNS" "$@"
fi
case $secs in
'' | *[!0-9]* | 0) echo "bench/fuzz.sh: SECONDS must be a positive number"; exit 2 ;;
esac
exec "$here/../test/fuzz/fuzz.sh" -k -t "$secs" "$@"
