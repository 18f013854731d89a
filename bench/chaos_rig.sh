#!/bin/bash
# Issue [7]'s chaos benchmark on the rig: N rounds of test/rig/chaos.sh (5
# hosts, rig1-rig3 candidates, `auto`, real KVM guests, power-offs, Wake-on-
# LAN and IPMI), each swinging the load between consolidation and spread and
# injecting one fault while the leader has actions dispatched; the kinds come
# in shuffled blocks of all seven, so every kind runs about N/7 times. Prints
# each round, then per fault kind: runs, violations, rounds that did not
# settle, and the time from the end of the fault to a settled cluster (one
# leader, a settled plan, gossip matching the power; p50 and max). The last
# line is
#   chaos: N faults; lost: L duplicated: D stale: S off_with_guest: O; convergence p50=X max=Y
# (seconds). SEED (default: random, printed) replays the fault sequence and
# its timings; the real world's timing varies. With a violation the agents'
# logs and the power log are kept (path printed; CHAOS_KEEP=1: always).
# CHAOS_ONLY="kind ..." repeats only those kinds, e.g. CHAOS_ONLY=libvirtd
# for (f), and CHAOS_LIBVIRTD_AT=finish stops the destination's libvirtd in
# libvirt's Finish (test/rig/README.md, Chaos).
#   usage: bench/chaos_rig.sh N [SEED]   (root; about 30 s a round)
# NODECTL=PATH/TO/nodectl tests that binary; else a Release build in
# build-bench/ is made first.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HERE=$ROOT/test/rig
N=${1:?usage: bench/chaos_rig.sh N [SEED]}
SEED=${2:-$RANDOM}
[[ $N =~ ^[1-9][0-9]*$ && $SEED =~ ^[0-9]+$ ]] || { echo "usage: bench/chaos_rig.sh N [SEED]" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "chaos_rig: needs root (the rig)" >&2; exit 1; }
if [[ -z ${NODECTL:-} ]]; then
    cmake -S "$ROOT" -B "$ROOT/build-bench" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$ROOT/build-bench" -j2 --target nodectl >/dev/null
    NODECTL=$ROOT/build-bench/src/nodectl
fi
export NODECTL
export NODECTL_RIG=nodectl-rig-chaos-bench-$$
TEST_NAME=chaos_rig
source "$HERE/cluster.sh"
source "$HERE/chaos.sh"
WORK=$(mktemp -d /tmp/nodectl-bench-chaos.XXXXXX)
KEEP=${CHAOS_KEEP:-}
on_exit() {
    [[ -n $STOPPED_PID ]] && kill -CONT "$STOPPED_PID" 2>/dev/null
    rig down >/dev/null 2>&1 || true
    [[ -n $KEEP ]] || rm -rf "$WORK"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

RANDOM=$SEED
echo "chaos_rig: $N rounds, seed $SEED (bench/chaos_rig.sh $N $SEED replays the sequence)"
t0=$SECONDS
chaos_setup
r=0
while ((r < N)); do
    shuffle_kinds
    for kind in "${ORDER[@]}"; do
        ((r < N)) || break
        r=$((r + 1))
        chaos_round "$r" "$kind" || true
    done
done
printf '\n%d rounds in %d s; %d violation(s)\n' "$N" "$((SECONDS - t0))" "${#FINDINGS[@]}"
printf '%s\n' "${FINDINGS[@]}" | grep '^round ' || true
if ((${#FINDINGS[@]})) || [[ -n $KEEP ]]; then
    KEEP=1
    cp "/run/$NODECTL_RIG/power.log" "$WORK/"
    echo "agents' logs and the power log kept in $WORK"
fi
chaos_report
