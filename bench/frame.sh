#!/bin/sh
# The frame layer's cost against what an agent handles (docs/security.md):
# bench_frame's microseconds per sealed and opened frame, beside the packet
# rate of a member of a 100-host cluster with the default gossip timings
# (nodesim gossip, no faults), and the CPU share that makes.
#
# usage: bench/frame.sh [BUILD_DIR]     (Release build, default build-bench)
set -eu
cd "$(dirname "$0")/.."
BUILD=${1:-build-bench}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 --target bench_frame nodesim >/dev/null
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
"$BUILD/bench/bench_frame" 1400 20000 | tee "$OUT"
"$BUILD/src/nodesim" gossip --nodes 100 --duration 120 --crash-every 0 --json >"$OUT.sim"
python3 - "$OUT" "$OUT.sim" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
seal, open_ = (float(x) for x in re.search(r"seal ([\d.]+) us, open ([\d.]+) us", text).groups())
sim = json.load(open(sys.argv[2]))
per_node = sim["packets_sent"] / sim["nodes"] / sim["sim_seconds"]
# Besides gossip: heartbeats to 2 voters at 10/s on a leader, and the
# beacons of 99 others every 5 s.
frames = per_node + 20 + 99 / 5
cpu = frames * (seal + open_) / 1e6
print(f"N = 100: {per_node:.1f} gossip packets/s sent and received per member (nodesim); "
      f"with elections and beacons about {frames:.0f} frames/s each way: "
      f"{cpu * 100:.2f} % of one core to seal and open them")
PY
rm -f "$OUT.sim"
