#!/bin/bash
# Chaos on the rig: 5 hosts (rig1-rig3 candidates, `auto`, real
# KVM guests, power by the rig's button, Wake-on-LAN and IPMI), the load
# swinging between consolidation and spread, and each fault of
# test/rig/chaos.sh injected once, in an order the seed chooses, while the
# leader has actions dispatched: the leader stopped past its lease, its link
# cut, a migration target's link cut, 20 % loss on every host, a guest
# started by hand on a host being powered off, the destination's libvirtd
# stopped mid-migration, kill -9 of each new leader. After each the cluster
# must settle (one leader, a settled plan, gossip matching the power) and no
# guest may be lost or duplicated, no agent may execute a command of a term
# older than one it knew, no power-off may kill a guest.
#   usage: test_chaos_rig.sh PATH/TO/nodectl     (root; CHAOS_SEED=S replays a seed)
# The long run is bench/chaos_rig.sh.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ ${1:-} != --body ]]; then
    export NODECTL=${1:?usage: test_chaos_rig.sh PATH/TO/nodectl}
    shift
fi
source "$HERE/supervise.sh"
rig_supervise chaos 480 "$@"

TEST_NAME=test_chaos_rig
source "$HERE/cluster.sh"
source "$HERE/chaos.sh"
# Within the budget: a round that does not settle in 2 minutes ends the test.
CHAOS_SETTLE_S=120
WORK=$(mktemp -d /tmp/nodectl-chaos-rig.XXXXXX)
on_exit() {
    local rc=$? f
    [[ -n $STOPPED_PID ]] && kill -CONT "$STOPPED_PID" 2>/dev/null
    if ((rc != 0)); then
        for f in "$WORK"/rig*/agent.log "/run/$NODECTL_RIG/power.log"; do
            [[ -f $f ]] && { echo "--- $f (last 25 lines)"; tail -25 "$f"; } >&2
        done
    fi
    rig down >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap on_exit EXIT

SEED=${CHAOS_SEED:-$RANDOM}
RANDOM=$SEED
note "seed $SEED (CHAOS_SEED=$SEED replays this order and these timings)"
t0=$SECONDS
chaos_setup
shuffle_kinds
r=0
for kind in "${ORDER[@]}"; do
    r=$((r + 1))
    # A fault that found no moment (no action dispatched) gets one more swing.
    if ! chaos_round "$r" "$kind" && [[ -z ${RUNS[$kind]:-} ]]; then
        chaos_round "$r" "$kind" || [[ -n ${RUNS[$kind]:-} ]] ||
            fail "seed $SEED: ${CHAOS_TITLE[$kind]}: the leader dispatched nothing to interrupt"
    fi
    [[ -z ${UNSETTLED[$kind]:-} ]] || break
done
chaos_report >&2
if ((${#FINDINGS[@]})); then
    printf '%s\n' "${FINDINGS[@]}" >&2
    fail "seed $SEED: ${#FINDINGS[@]} violation(s) in $((SECONDS - t0)) s (CHAOS_SEED=$SEED to replay)"
fi
note "PASS: ${#ORDER[@]} faults in $((SECONDS - t0)) s, nothing lost, duplicated, stale or killed by a power-off"
