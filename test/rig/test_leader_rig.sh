#!/bin/bash
# The leader at work on the rig: 5 hosts with real libvirtd and
# one real KVM guest each, rig1-rig3 leader candidates, the leader in
# `auto`. Load is said through the agents' synthetic load file (the guests
# idle in their firmware):
#   1. low load: the guests of rig4 and rig5 are consolidated onto the
#      candidates and both hosts are powered off through the rig's power
#      button; `nodectl status` shows them off; every guest runs once;
#   2. load rises: the leader wakes rig4 with real Wake-on-LAN packets (the
#      rig's power controller logs each packet) and rig5, which declares its
#      BMC, through IPMI (a live host runs ipmitool against rig5's simulated
#      BMC, which logs the power-on; no magic packet goes to rig5), and the
#      guests spread out; a first IPMI attempt with a wrong password fails
#      and the leader's events say why (ipmitool's status and message);
#   3. load falls and the leader is killed (kill -9) while migrations run:
#      a new leader takes over, no agent executes a command of the old term
#      after learning the new one, every guest runs on exactly one host and
#      the plan converges (rig4 and rig5 off again);
#   4. `nodectl drain --wait` empties a candidate while the leader is
#      killed once more in the middle; the drain completes under the next.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ ${1:-} != --body ]]; then
    export NODECTL=${1:?usage: test_leader_rig.sh PATH/TO/nodectl}
    shift
fi
source "$HERE/supervise.sh"
rig_supervise leader 480 "$@"

TEST_NAME=test_leader_rig
source "$HERE/cluster.sh"
WORK=$(mktemp -d /tmp/nodectl-leader-rig.XXXXXX)
trap cluster_exit EXIT

IPMI_HOSTS=(rig5)
cluster_up 5 1 rig1 rig2 rig3
has_leader() { [[ -n $(leader_seen rig1) ]]; }
eventually 60 has_leader || fail "no leader within 60 s"
note "leader: $(leader_seen rig1)"

# 1. Low load: consolidation and power-off.
both_off() {
    local h
    for h in rig1 rig2 rig3; do
        [[ $(member_state "$h" rig4) == off && $(member_state "$h" rig5) == off ]] || return 1
    done
}
t0=$SECONDS
eventually 180 both_off || { on rig1 status >&2 || true; fail "rig4 and rig5 are not off"; }
note "low load: rig4 and rig5 powered off after $((SECONDS - t0)) s"
power_off() { [[ $(rig power "$1" status) == off ]]; }
for h in rig4 rig5; do
    # The host announces "off" first, then its off command cuts the power.
    eventually 30 power_off "$h" || fail "$h is off in gossip but its power stays on"
    on rig1 status | grep -Eq "^$h +[^ ]+ +off " || fail "nodectl status does not show $h off"
done
exactly_once >"$WORK/placement" || fail "guests after consolidation"
grep -Eq ' rig[45]$' "$WORK/placement" && fail "a guest still runs on a host that is off"
note "every guest runs once: $(tr '\n' ' ' <"$WORK/placement")"

# 2. Load rises: rig4 is woken by real magic packets, rig5 through its BMC, the guests spread.
# The BMC password file every agent uses holds a wrong password at first: that power-on fails
# with ipmitool's own reason, then the next plan powers rig5 on with the right one.
bmc_pw=/run/$NODECTL_RIG/bmc-password
cp "$bmc_pw" "$WORK/bmc-password.good"
printf 'wrong\n' >"$bmc_pw"
load 90
leader_events() { on "$(leader_seen rig1 | cut -d' ' -f1)" events; }
ipmi_failed() {
    leader_events | grep -q "failed: power-on rig5 .*could not power it on through its BMC: ipmitool exited with status 1: Error"
}
eventually 60 ipmi_failed || fail "no failed IPMI power-on of rig5 with a wrong password in the leader's events"
note "wrong BMC password: $(leader_events | grep -o 'rig[0-9] could not power it on through its BMC.*' | head -1)"
cp "$WORK/bmc-password.good" "$bmc_pw"
both_alive() {
    local h
    for h in rig4 rig5; do [[ $(member_state rig1 "$h") == alive ]] || return 1; done
}
t0=$SECONDS
eventually 150 both_alive || { on rig1 status >&2 || true; fail "rig4 and rig5 were not woken"; }
note "load 90 %: rig4 and rig5 alive again after $((SECONDS - t0)) s"
power_log=/run/$NODECTL_RIG/power.log
grep -q "wol: magic packet for 02:77:00:00:00:04" "$power_log" ||
    fail "no Wake-on-LAN packet for rig4 reached the rig's power controller"
grep -q "bmc rig5: IPMI chassis power on" "$power_log" ||
    fail "rig5 was not powered on through its BMC"
! grep -q "wol: magic packet for 02:77:00:00:00:05" "$power_log" ||
    fail "a magic packet was sent for rig5, which has a BMC"
ipmi_event() { leader_events | grep -q "dispatched: power-on rig5 .*: IPMI power on through its BMC from "; }
eventually 10 ipmi_event || fail "the leader's events do not say rig5 was powered on by IPMI"
note "rig4 woken by Wake-on-LAN, rig5 by IPMI through its BMC"

spread() {
    exactly_once >"$WORK/placement" 2>/dev/null || return 1
    [[ $(awk '{ print $2 }' "$WORK/placement" | sort -u | wc -l) -eq 5 ]]
}
eventually 150 spread || { cat "$WORK/placement" >&2; fail "the guests did not spread over 5 hosts"; }
note "guests spread: $(tr '\n' ' ' <"$WORK/placement")"

# 3. Load falls; the leader is killed while migrations run. The leader is read again at every
# poll: on a busy machine a lease can lapse without a kill, and the next leader does the moves.
leader_migrating() {
    read -r leader term < <(leader_seen rig1) && [[ -n $leader ]] && migration_dispatched "$leader"
}
load 1
eventually 90 leader_migrating || fail "no migration started after the load fell"
kill -9 "$(agent_pid "$leader")"
note "killed leader $leader (term $term) with a migration in flight"
survivor=rig1
[[ $leader == rig1 ]] && survivor=rig2
new_leader() {
    local l t
    read -r l t < <(leader_seen "$survivor") || return 1
    [[ -n $l && $l != "$leader" && $t -gt $term ]]
}
eventually 30 new_leader || fail "no new leader after killing $leader"
read -r leader2 term2 < <(leader_seen "$survivor")
note "new leader $leader2, term $term2"
agent_restart "$leader"
settled() { both_off && plan_settled "$leader2"; }
eventually 180 settled || { on "$leader2" plan >&2 || true; fail "the plan did not converge under $leader2"; }
exactly_once >"$WORK/placement" || fail "guests after the takeover"
stale=$(stale_executions "$term2")
[[ -z $stale ]] || fail "commands of an older term executed after term $term2: $stale"
refused=0
for h in rig1 rig2 rig3; do
    r=$(status_field "$h" 's["stale_commands_refused"]') || r=0
    refused=$((refused + r))
done
note "converged under $leader2: rig4 and rig5 off, every guest once, no stale execution ($refused stale commands refused)"

# 4. Drain a candidate across a leader kill.
read -r leader3 term3 < <(leader_seen "$survivor")
drained=""
for h in rig1 rig2 rig3; do
    [[ $h != "$leader3" ]] && grep -q " $h$" "$WORK/placement" && { drained=$h; break; }
done
[[ -n $drained ]] || fail "no candidate other than the leader runs a guest"
on "$drained" drain "$drained" --wait >"$WORK/drain.out" 2>&1 &
drain_pid=$!
eventually 60 migration_dispatched "$leader3" || fail "the drain of $drained started no migration"
kill -9 "$(agent_pid "$leader3")"
note "draining $drained; killed leader $leader3 (term $term3) in the middle"
drain_done() { ! kill -0 "$drain_pid" 2>/dev/null; }
eventually 150 drain_done || fail "drain --wait did not finish: $(cat "$WORK/drain.out")"
wait "$drain_pid" || fail "drain --wait failed: $(cat "$WORK/drain.out")"
agent_restart "$leader3"
[[ -z $(rig exec "$drained" virsh -q -c qemu:///system list --name --state-running) ]] ||
    fail "$drained still runs guests after the drain"
exactly_once >"$WORK/placement" || fail "guests after the drain"
read -r leader4 term4 < <(leader_seen "$drained")
[[ $term4 -gt $term3 ]] || fail "the drain finished without a new leader"
stale=$(stale_executions "$term4")
[[ -z $stale ]] || fail "commands of an older term executed after term $term4: $stale"
note "drained $drained under $leader4 (term $term4): $(tail -1 "$WORK/drain.out")"
note "PASS"
