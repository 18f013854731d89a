#!/bin/sh
# Wall time and figures of one-day replays: every shared PlanetLab day,
# CloudSim's policies and nodectl's. Builds a Release tree in build-bench/.
# usage: bench/replay.sh [PLANETLAB_DIR] [policy ...]
set -eu
cd "$(dirname "$0")/.."
DIR=${1:-../shared/data/planetlab}
[ $# -gt 0 ] && shift
POLICIES=${*:-"npa dvfs thr-mmt iqr-mmt mad-mmt lr-mmt lrr-mmt default"}
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DNODECTL_TESTS=ON >/dev/null
cmake --build build-bench -j2 --target nodesim >/dev/null
printf '%-9s %-12s %10s %10s %8s %8s %10s %10s %8s\n' day policy energy_kwh migrations slatah% pdm% slav esv wall_s
for day in "$DIR"/2*/; do
    d=$(basename "$day")
    for p in $POLICIES; do
        ./build-bench/src/nodesim replay --workload "$day" --policy "$p" |
            awk -v d="$d" -v p="$p" '{v[$1]=$2} END {
                printf "%-9s %-12s %10.2f %10d %8.3f %8.4f %10.3e %10.3e %8.2f\n", d, p,
                    v["energy_kwh"], v["migrations"], v["slatah"]*100, v["pdm"]*100, v["slav"], v["esv"],
                    v["wall_seconds"] }'
    done
done
