#!/bin/sh
# The long sweep of `nodesim ha` (docs/ha.md): SEEDS runs (default 10,000)
# of 8 hosts with 16 protected VMs, DURATION simulated seconds each (default
# 600), split over JOBS processes (default 2) by seed ranges. Prints each
# process's totals (vm_duplicated and vm_left_down must be 0) and the wall
# time. Builds nodesim in Release into BUILD_DIR (default build-bench).
#
# usage: bench/ha_sim.sh [SEEDS] [JOBS] [FIRST] [BUILD_DIR]
set -eu
cd "$(dirname "$0")/.."
SEEDS=${1:-10000}
JOBS=${2:-2}
FIRST=${3:-1}
BUILD=${4:-build-bench}
DURATION=${DURATION:-600}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 --target nodesim >/dev/null
per=$(((SEEDS + JOBS - 1) / JOBS))
start=$(date +%s)
j=0
rc=0
pids=""
while [ "$j" -lt "$JOBS" ]; do
    from=$((FIRST + j * per))
    n=$((SEEDS - j * per))
    [ "$n" -gt "$per" ] && n=$per
    [ "$n" -gt 0 ] && { "$BUILD/src/nodesim" ha --seed "$from" --seeds "$n" --duration "$DURATION" & pids="$pids $!"; }
    j=$((j + 1))
done
for p in $pids; do wait "$p" || rc=1; done
echo "wall $(($(date +%s) - start)) s for $SEEDS seeds of $DURATION s"
exit $rc
