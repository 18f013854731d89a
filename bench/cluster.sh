#!/bin/sh
# The long sweep of `nodesim cluster` (docs/safety.md, "The simulator"):
# SEEDS runs (default 10,000) of 20 hosts (3 candidates), 60 VMs, 600
# simulated seconds each, with every fault, split over JOBS processes
# (default: the machine's cores) by seed ranges from FIRST (default 1).
# Prints the invariants summed over all runs (each must be 0), the first
# violating seed with its rerun command, what the runs did, and the speed:
# CPU seconds per run and wall time.
#
# usage: bench/cluster.sh [SEEDS] [JOBS] [FIRST] [BUILD_DIR]
# Builds nodesim in Release into BUILD_DIR (default build-bench) first.
# Extra nodesim options (e.g. --priority 10) may come in NODESIM_ARGS;
# DURATION sets the simulated seconds per run (default 600). With
# NODESIM_ARGS=--ha (DURATION over 270) the HA counts are printed too.
set -eu
cd "$(dirname "$0")/.."
SEEDS=${1:-10000}
JOBS=${2:-$(nproc)}
FIRST=${3:-1}
BUILD=${4:-build-bench}
DURATION=${DURATION:-600}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 --target nodesim >/dev/null
SIM="$BUILD/src/nodesim"

OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
per=$(((SEEDS + JOBS - 1) / JOBS))
start=$(date +%s)
j=0
while [ "$j" -lt "$JOBS" ]; do
    from=$((FIRST + j * per))
    n=$((SEEDS - j * per))
    [ "$n" -gt "$per" ] && n=$per
    if [ "$n" -gt 0 ]; then
        # shellcheck disable=SC2086
        "$SIM" cluster --hosts 20 --candidates 3 --vms 60 --duration "$DURATION" --faults all \
            --seed "$from" --seeds "$n" --json ${NODESIM_ARGS:-} \
            >"$OUT/$j.json" 2>"$OUT/$j.err" &
    fi
    j=$((j + 1))
done
wait || true
end=$(date +%s)
# The trace of each job's first violating run, if any.
for f in "$OUT"/*.err; do
    [ -s "$f" ] && cat "$f" >&2
done

python3 - "$OUT" "$SEEDS" "$JOBS" "$((end - start))" "$DURATION" <<'EOF'
import glob, json, os, sys
out, seeds, jobs, wall = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
duration = sys.argv[5]
runs = [json.load(open(f)) for f in sorted(glob.glob(os.path.join(out, "*.json")))
        if os.path.getsize(f)]
def total(k):
    return sum(r[k] for r in runs)
invariants = ["vm_lost", "vm_duplicated", "host_off_with_vm", "stale_effects",
              "lease_overlaps", "leader_churn"]
done = total("seeds")
print(f"nodesim cluster: {done} of {seeds} runs, 20 hosts x {duration} s, all faults, {jobs} jobs")
for k in invariants:
    print(f"  {k:18} {total(k)}")
if any("vm_left_down" in r for r in runs):
    print(f"  {'vm_left_down':18} {total('vm_left_down')}")
print(f"  {'violated_runs':18} {total('violated_runs')}")
firsts = [r for r in runs if r["first_violation_seed"] is not None]
if firsts:
    r = min(firsts, key=lambda r: r["first_violation_seed"])
    print(f"first violation: seed {r['first_violation_seed']}: {r['first_violation']}")
    print(f"  rerun: nodesim cluster --seed {r['first_violation_seed']} --trace")
    seeds_v = sorted(s for r in runs for s in r.get("violated_seeds", []))
    print("violated seeds (up to 256 per job): " + " ".join(str(s) for s in seeds_v))
print("  (not violations: %d stale effects after a pause of the target between its last "
      "check and its action)" % total("stale_effects_after_target_pause"))
ha = ["vm_down_no_room", "vm_down_off_host", "ha_restarts", "power_losses", "ha_self_fences",
      "ha_destroyed", "ha_qemu_killed", "ha_bmc_power_offs", "ha_bmc_reads", "watchdog_resets",
      "ha_reconcile_undefined", "leader_kills_in_restart"]
for k in ["elections", "commands", "grants", "migrations", "migrations_failed", "power_offs",
          "power_ons", "faults", "pauses", "crashes", "partitions"] + \
        [k for k in ha if any(k in r for r in runs) and "--ha" in os.environ.get("NODESIM_ARGS", "")]:
    print(f"  {k:18} {total(k)} ({total(k) / max(done, 1):.1f} per run)")
cpu = total("cpu_seconds")
print(f"speed: {cpu / max(done, 1):.3f} CPU s per run; {cpu:.0f} CPU s in all; "
      f"{wall} s wall on {jobs} job(s); {total('sim_seconds') / max(cpu, 1e-9):.0f}x real time "
      "per core")
sys.exit(1 if total("violated_runs") or done != seeds else 0)
EOF
