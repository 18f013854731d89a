#!/bin/sh
# The cost of records signed by their owner (docs/security.md, layer 3):
# nodesim gossip with and without --signed at N = 100 and N = 1,000, every
# host publishing a record every 30 s (the agent's floor, PUBLISH_EVERY_MS,
# when nothing moves), 512-byte records, no faults. Prints the bytes each
# node sends per second both ways, the bytes sealing adds to a record (the
# certificate, the signature and a 6-byte header), the record versions each
# node checks per second (over the whole run, whose first 5 s and last 20 s
# publish nothing: 33 a second while they are published at N = 1,000), the
# microseconds to seal and to check one, and the share of a core they take.
#
# usage: bench/records.sh [BUILD_DIR]     (Release build, default build-bench)
set -eu
cd "$(dirname "$0")/.."
BUILD=${1:-build-bench}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DNODECTL_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j2 --target nodesim >/dev/null
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
for n in 100 1000; do
    every=$(python3 -c "print(30 / $n)")
    for mode in plain signed; do
        flag=""
        [ "$mode" = signed ] && flag=--signed
        "$BUILD/src/nodesim" gossip --nodes "$n" --duration 90 --crash-every 0 \
            --update-every "$every" --seed 3 $flag --json >"$OUT/$n-$mode.json"
    done
done
python3 - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
print(f"{'N':>5} {'B/s plain':>10} {'B/s signed':>11} {'+B/record':>10} {'checks/s':>9} "
      f"{'seal us':>8} {'verify us':>10} {'CPU %':>7} {'update p99 s':>13}")
for n in (100, 1000):
    p = json.load(open(os.path.join(out, f"{n}-plain.json")))
    s = json.load(open(os.path.join(out, f"{n}-signed.json")))
    print(f"{n:>5} {p['bytes_per_node_s_mean']:>10.0f} {s['bytes_per_node_s_mean']:>11.0f} "
          f"{s['record_overhead_bytes']:>10} {s['verifies_per_node_s']:>9.1f} {s['seal_us_each']:>8.1f} "
          f"{s['verify_us_each']:>10.1f} {s['sign_cpu_share_per_node'] * 100:>7.3f} "
          f"{s['update_all_p99_s']:>13.2f}")
PY
