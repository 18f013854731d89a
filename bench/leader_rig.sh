#!/bin/bash
# Issue [6]'s takeover benchmark: the leader is killed (kill -9) ITERATIONS
# times while it consolidates or spreads the guests of a 5-host rig (3
# candidates, real KVM guests, power-offs and Wake-on-LAN included), and the
# figures are printed:
#   lease_s   from the kill to a new leader holding its lease (the new
#             leader's "this host leads" event, wall clock; the leader is
#             found by polling the surviving candidates);
#   action_s  from the kill to the first action the new term dispatched (the
#             new leader's event log, wall clock); the kill comes while the
#             plan has an action under way and another waiting for it, so
#             the new term always has work left (NA if it had none);
#   lost, duplicated   guests running on no host / on two hosts once the plan
#             converged (asked of every powered host's libvirtd);
#   stale     commands of the old term an agent executed after it learned
#             the new term (the agents' logs).
# The load alternates between 1 % and 90 % each iteration, so every kill
# falls during consolidation (migrations off rig4/rig5, then power-offs) or
# a spread (wakes, then migrations).
#   usage: bench/leader_rig.sh PATH/TO/nodectl [ITERATIONS]   (root; ~1 min each)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/../test/rig" && pwd)
export NODECTL=${1:?usage: bench/leader_rig.sh PATH/TO/nodectl [ITERATIONS]}
N=${2:-20}
export NODECTL_RIG=nodectl-rig-bench-$$
TEST_NAME=leader_rig
source "$HERE/cluster.sh"
WORK=$(mktemp -d /tmp/nodectl-bench-leader.XXXXXX)
trap 'rig down >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

now_ms() { printf '%s' "${EPOCHREALTIME/./}" | cut -c1-13; }

cluster_up 5 1 rig1 rig2 rig3
has_leader() { [[ -n $(leader_seen rig1) ]]; }
eventually 60 has_leader || fail "no leader"
both_off() {
    local h
    for h in rig1 rig2 rig3; do
        [[ $(member_state "$h" rig4) == off && $(member_state "$h" rig5) == off ]] || return 1
    done
}
spread() {
    exactly_once >"$WORK/placement" 2>/dev/null || return 1
    [[ $(awk '{ print $2 }' "$WORK/placement" | sort -u | wc -l) -eq 5 ]]
}
eventually 180 both_off || fail "no initial consolidation"

# The leader's plan has an action dispatched and another proposed.
plan_midway() {
    local out
    out=$(on "$1" plan --json) || return 1
    python3 - "$out" <<'PY'
import json, sys
states = [a["state"] for a in json.loads(sys.argv[1]).get("actions", [])]
sys.exit(0 if "dispatched" in states and "proposed" in states else 1)
PY
}

# The wall-clock ms of the first event of host H matching the awk regex R,
# or nothing yet.
event_ms() {
    on "$1" events 2>/dev/null | awk -v r="$2" '$0 ~ r { print $1 " " $2; exit }' |
        { read -r d tm || exit 0; date -u -d "$d $tm" +%s%3N; }
}
first_action_ms() { event_ms "$1" "dispatched: .*term $2[)]"; }

lease=() action=() lost=0 dup=0 stale=0 kills=0
printf 'iter  load  killed  term  new   lease_s  action_s\n'
for ((i = 1; i <= N; i++)); do
    pct=$((i % 2 ? 90 : 1))
    load "$pct"
    # The leader with an action under way and another still waiting for
    # it, so that the new term has work left (asked afresh each time: a
    # leader may change on its own on a loaded machine).
    moving() {
        read -r leader term < <(leader_seen rig1 || leader_seen rig2) || return 1
        plan_midway "$leader"
    }
    if ! eventually 120 moving; then
        note "iteration $i: no plan under way within 120 s; skipped"
        continue
    fi
    t_kill=$(now_ms)
    kill -9 "$(agent_pid "$leader")"
    kills=$((kills + 1))
    new="" new_term=0 t_lease=""
    until [[ -n $t_lease ]]; do
        for c in "${CANDIDATES[@]}"; do
            [[ $c == "$leader" ]] && continue
            if [[ $(status_field "$c" '"%d %d" % (s["lease"], s["term"])' 2>/dev/null) =~ ^1\ ([0-9]+)$ ]] &&
                ((BASH_REMATCH[1] > term)); then
                t_lease=$(now_ms) new=$c new_term=${BASH_REMATCH[1]}
                break
            fi
        done
        [[ -n $t_lease ]] || sleep 0.1
        (($(now_ms) - t_kill < 60000)) || fail "iteration $i: no new leader within 60 s"
    done
    t_led=$(event_ms "$new" "this host leads [(]term $new_term[)]")
    [[ -n $t_led ]] && t_lease=$t_led
    agent_restart "$leader"
    t_action="" w=0
    while [[ -z $t_action ]] && ((w++ < 300)); do
        t_action=$(first_action_ms "$new" "$new_term")
        [[ -n $t_action ]] || sleep 0.2
    done
    if ((pct == 1)); then eventually 240 both_off || note "iteration $i: rig4/rig5 not off"; else
        eventually 240 spread || note "iteration $i: guests not spread"; fi
    eventually 120 plan_settled "$new" || note "iteration $i: plan not settled"
    exactly_once >/dev/null 2>"$WORK/check" || true
    lost=$((lost + $(grep -c '^lost' "$WORK/check" || true)))
    dup=$((dup + $(grep -c '^duplicated' "$WORK/check" || true)))
    stale=$((stale + $(stale_executions "$new_term" | wc -l)))
    ls=$(awk -v a="$t_kill" -v b="$t_lease" 'BEGIN { printf "%.3f", (b - a) / 1000 }')
    as=NA
    [[ -n $t_action ]] && as=$(awk -v a="$t_kill" -v b="$t_action" 'BEGIN { printf "%.3f", (b - a) / 1000 }')
    lease+=("$ls")
    [[ $as != NA ]] && action+=("$as")
    printf '%4d  %3d%%  %-6s  %4d  %-5s %8s  %8s\n' "$i" "$pct" "$leader" "$term" "$new" "$ls" "$as"
done

stats() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        if (!NR) { print "n=0"; exit }
        printf "n=%d p50=%.3f p95=%.3f max=%.3f", NR, v[int((NR + 1) / 2)],
            v[int(NR * 0.95 + 0.999)], v[NR] }'
}
printf '\nkills: %d\n' "$kills"
printf 'time to a new leader holding its lease (s): %s\n' "$(stats "${lease[@]}")"
printf 'time to the first action of the new term (s): %s\n' "$(stats "${action[@]}")"
printf 'lost: %d  duplicated: %d  stale: %d\n' "$lost" "$dup" "$stale"
