#!/bin/bash
# Orchestrated live migration against libvirt's own, on the rig:
# one guest moves back and forth between rig1 and rig2, alternately by
# `nodectl migrate --wait` (asked on the source host) and by a raw
# `virsh migrate --live --p2p` of the same guest, in pairs whose order
# alternates, and the ratio of median wall times is printed. Then the
# agents' footprint: resident memory and CPU over FOOTPRINT_S seconds
# (default 600), sampled from /proc. Needs root; builds a Release tree.
#   bench/migrate.sh [PAIRS] [FOOTPRINT_S]
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS=${1:-10}
FOOTPRINT_S=${2:-600}
export NODECTL_RIG=nodectl-rig-bench
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-bench -j"$(nproc)" --target nodectl >/dev/null
NODECTL=$PWD/build-bench/src/nodectl
RIG=test/rig/rig
WORK=$(mktemp -d /tmp/nodectl-bench-migrate.XXXXXX)
trap '$RIG down >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT INT TERM

$RIG up 2 1 >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log" >&2; exit 1; }
HERE=$PWD/test/rig
# identity_lines: the CA, cluster key and host certificates.
source test/rig/cluster.sh
declare -A PID ADDR
for h in rig1 rig2; do
    ADDR[$h]=$($RIG addr "$h")
    mkdir -p "$WORK/$h"
    cat >"$WORK/$h/nodectl.conf" <<CONF
[cluster]
name = bench
$(identity_lines "$h" "$([ "$h" = rig1 ] && echo candidate)")
seeds = $($RIG addr rig1):7946
candidates = rig1
[node]
name = $h
bind_address = ${ADDR[$h]}
state_dir = $WORK/$h/state
control_socket = $WORK/$h/ctl.sock
log_level = warn
[hypervisor]
uri = qemu:///system
migration_uri = qemu+tcp://${ADDR[$h]}/system
migration_address = tcp://${ADDR[$h]}
CONF
    PID[$h]=$($RIG spawn "$h" "$WORK/$h/agent.log" "$NODECTL" agent -c "$WORK/$h/nodectl.conf")
done
until $RIG exec rig2 "$NODECTL" -c "$WORK/rig2/nodectl.conf" find rig1-vm1 >/dev/null 2>&1; do
    sleep 0.5
done

VM=rig1-vm1
HOST=rig1 # where the guest is
other() { [[ $1 == rig1 ]] && echo rig2 || echo rig1; }
by_nodectl() {
    local to
    to=$(other "$HOST")
    $RIG exec "$HOST" "$NODECTL" -c "$WORK/$HOST/nodectl.conf" migrate "$VM" "$to" --wait >/dev/null
    HOST=$to
}
by_virsh() {
    local to
    to=$(other "$HOST")
    $RIG exec "$HOST" virsh -q -c qemu:///system migrate --live --p2p --persistent \
        --undefinesource "$VM" "qemu+tcp://${ADDR[$to]}/system" "tcp://${ADDR[$to]}" >/dev/null
    HOST=$to
}
# Appends "METHOD FROM->TO SECONDS" to the results.
timed() {
    local t0=$EPOCHREALTIME from=$HOST
    "by_$1"
    awk -v m="$1" -v d="$from-$HOST" -v a="$t0" -v b="$EPOCHREALTIME" \
        'BEGIN { printf "%s %s %.3f\n", m, d, b - a }' >>"$WORK/times"
}
# Each agent must see the guest where it now is before the next move.
settle() {
    until $RIG exec "$HOST" "$NODECTL" -c "$WORK/$HOST/nodectl.conf" find "$VM" 2>/dev/null |
        grep -qx "$HOST	running"; do
        sleep 0.2
    done
}
# The order nodectl, virsh, virsh, nodectl repeats: each method moves the
# guest the same number of times in each direction, and each run is
# compared with the other method's runs in the same direction (the two
# directions can differ, one daemon being busier than the other).
: >"$WORK/times"
for ((i = 0; i < PAIRS; i++)); do
    if ((i % 2 == 0)); then
        timed nodectl; settle
        timed virsh; settle
    else
        timed virsh; settle
        timed nodectl; settle
    fi
done
echo "live migration of a 64 MiB guest, $PAIRS pairs, paired and alternated:"
sort -k2,2 -k1,1 -k3n "$WORK/times" | awk '
    { k = $1 " " $2; t[k, ++n[k]] = $3; dirs[$2] = 1 }
    function median(k,   c) { c = n[k]; return c % 2 ? t[k, (c + 1) / 2] : (t[k, c / 2] + t[k, c / 2 + 1]) / 2 }
    END {
        prod = 1; nd = 0
        for (d in dirs) {
            a = median("nodectl " d); b = median("virsh " d)
            printf "  %s: nodectl migrate --wait median %.3f s, virsh migrate --live median %.3f s, ratio %.3f\n", d, a, b, a / b
            prod *= a / b; nd++
        }
        printf "  ratio nodectl/virsh (geometric mean over directions): %.3f (target <= 1.05)\n", prod ^ (1 / nd)
    }'

# Footprint of the agent on rig1 over FOOTPRINT_S seconds.
pid=${PID[rig1]}
ticks=$(getconf CLK_TCK)
cpu() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
c0=$(cpu)
max_rss=0
for ((t = 0; t < FOOTPRINT_S; t += 5)); do
    rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status")
    ((rss > max_rss)) && max_rss=$rss
    sleep 5
done
c1=$(cpu)
awk -v c="$((c1 - c0))" -v hz="$ticks" -v s="$FOOTPRINT_S" -v r="$max_rss" \
    'BEGIN { printf "agent footprint over %d s: resident memory max %.1f MiB, CPU %.2f %% of one core\n", s, r / 1024, 100 * c / hz / s }'
