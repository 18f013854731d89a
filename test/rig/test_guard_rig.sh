#!/bin/bash
# Guards at the resource on the rig (docs/safety.md): 4 hosts with real
# libvirtd and one KVM guest each, rig1 the only leader candidate, the leader
# in `auto` at low load; rig2-rig4 start empty (their guests shut off).
#   rig2 is drained and runs nodectl's qemu hook: `nodectl migrate` to it and
#     a `virsh migrate` to it are both refused, the latter by rig2's own
#     libvirtd with the hook's message;
#   rig4 has no hook: the leader powers it off, and the moment its agent
#     takes the command a guest is started there by hand. Its agent asks
#     libvirt again before the off command runs, sees the guest and stays on;
#     the guest keeps running (an agent that trusted its last sample would
#     run the off command and kill it);
#   rig3 runs the hook; its off command sleeps before it kills rig3's agent
#     (not the machine): while it is committed to power off, a `virsh
#     migrate` to it and a `virsh start` on it are refused by its libvirtd;
#     then its agent is dead, its machine up: the leader's probes (agent port
#     refused, BMC on) get it shown "failed" with the reason, not "off",
#     while rig4, once really off, stays "off" (silent, BMC off);
#   rig2, undrained at the end, takes a power-off while its libvirtd is stopped: libvirt's
#     answer comes after the grant ran out, so the power-off is refused at its commit, with
#     that reason, and the gate opens again.
# At the end every guest that was started runs exactly once.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ ${1:-} != --body ]]; then
    export NODECTL=${1:?usage: test_guard_rig.sh PATH/TO/nodectl}
    shift
fi
source "$HERE/supervise.sh"
rig_supervise guard 300 "$@"

TEST_NAME=test_guard_rig
source "$HERE/cluster.sh"
WORK=$(mktemp -d /tmp/nodectl-guard-rig.XXXXXX)
on_exit() {
    local rc=$?
    if [[ -n ${WATCH:-} ]]; then kill "$WATCH" 2>/dev/null || true; fi
    cluster_exit "$rc"
}
trap on_exit EXIT
# How long a host must be "off" before the leader probes it.
OFF_CHECK_S=8
elapsed_s() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
virsh_on() {
    local h=$1
    shift
    rig exec "$h" virsh -q -c qemu:///system "$@"
}

# rig3 stays committed long enough to be tried, then its agent dies; the machine stays up.
declare -A OFF_COMMANDS=([rig3]='sleep 25; kill -KILL $PPID')
IPMI_HOSTS=(rig1 rig2 rig3 rig4)
LEADER_EXTRA="off_check_after = ${OFF_CHECK_S}s"
cluster_make 4 1 rig1
for h in rig2 rig3 rig4; do virsh_on "$h" destroy "$h-vm1" >/dev/null; done
printf '1\n' >"$WORK/rig2/state/drain"
# The hook on rig2 and rig3; rig4 is a host whose libvirtd has not loaded it.
for h in rig2 rig3; do rig hook "$h" "$NODECTL" -c "$WORK/$h/nodectl.conf" hook qemu; done

# A guest started by hand on rig4 the moment its agent takes the power-off
# (the first line it logs for it, whichever of the two).
(
    until grep -qE "inbound gate closed|announced 'off'" "$WORK/rig4/agent.log" 2>/dev/null; do
        sleep 0.05
    done
    t=$EPOCHREALTIME
    virsh_on rig4 start rig4-vm1 >"$WORK/start4.out" 2>&1
    echo $? >"$WORK/start4.rc"
    elapsed_s "$t" >"$WORK/start4.s"
) &
WATCH=$!
cluster_start

# 1. A drained host takes no migration: nodectl says so, and its libvirtd refuses one sent
# behind nodectl's back.
all_known() { [[ $(on rig1 members | grep -cE '^rig[1-4] ') -eq 4 ]]; }
eventually 60 all_known || fail "rig1 does not see the 4 hosts"
if on rig1 migrate rig1-vm1 rig2 2>"$WORK/err"; then fail "nodectl migrate to the drained rig2 succeeded"; fi
grep -q "host 'rig2' is drained (in maintenance)" "$WORK/err" || fail "drained: $(cat "$WORK/err")"
if virsh_on rig1 migrate --live --p2p --persistent --undefinesource rig1-vm1 \
    qemu+tcp://rig2/system tcp://10.77.0.2 2>"$WORK/err"; then
    fail "virsh migrate to the drained rig2 succeeded"
fi
grep -q "nodectl: host rig2 refuses the incoming migration of 'rig1-vm1': drained" "$WORK/err" ||
    fail "rig2's libvirtd did not refuse with the hook's message: $(cat "$WORK/err")"
[[ $(virsh_on rig1 domstate rig1-vm1) == running ]] || fail "rig1-vm1 stopped running on rig1"
note "drained rig2: nodectl and rig2's libvirtd refuse migrations to it"

# 2. rig4: the guest started by hand during the power-off keeps the host on.
eventually 60 test -s "$WORK/start4.rc" || fail "rig4 was never asked to power off"
[[ $(cat "$WORK/start4.rc") == 0 ]] || fail "starting rig4-vm1 by hand failed: $(cat "$WORK/start4.out")"
stayed_on() { grep -qE "power off did not happen: VMs run here: rig4-vm1|refused: power off: VMs run here: rig4-vm1" "$WORK/rig4/agent.log"; }
eventually 20 stayed_on || fail "rig4's agent did not keep rig4 on for the guest started by hand"
[[ $(virsh_on rig4 domstate rig4-vm1) == running ]] ||
    fail "rig4-vm1 is not running on rig4: $(rig power rig4 status)"
note "rig4: rig4-vm1 started by hand in $(cat "$WORK/start4.s") s as its agent took the power-off; $(grep -ohE "(power off did not happen|refused: power off): VMs run here: rig4-vm1" "$WORK/rig4/agent.log" | head -1); rig4-vm1 runs"

# 3. rig3, committed to power off (its off command runs): its libvirtd refuses an incoming
# migration and a start, with the hook's message.
committed() { grep -q "off command started" "$WORK/rig3/agent.log"; }
eventually 60 committed || fail "rig3's off command did not start"
t_committed=$EPOCHREALTIME
if virsh_on rig1 migrate --live --p2p --persistent --undefinesource rig1-vm1 \
    qemu+tcp://rig3/system tcp://10.77.0.3 2>"$WORK/err"; then
    fail "virsh migrate to rig3, committed to power off, succeeded"
fi
grep -q "nodectl: host rig3 refuses the incoming migration of 'rig1-vm1': closed: powering off (command" "$WORK/err" ||
    fail "rig3's libvirtd did not refuse the migration with the hook's message: $(cat "$WORK/err")"
if virsh_on rig3 start rig3-vm1 2>"$WORK/err"; then fail "virsh start on rig3, committed to power off, succeeded"; fi
grep -q "nodectl: host rig3 refuses the start of 'rig3-vm1': closed: powering off" "$WORK/err" ||
    fail "rig3's libvirtd did not refuse the start with the hook's message: $(cat "$WORK/err")"
[[ $(virsh_on rig1 domstate rig1-vm1) == running ]] || fail "rig1-vm1 stopped running on rig1"
note "rig3 committed to power off: its libvirtd refused an incoming migration and a start ($(elapsed_s "$t_committed") s after its off command started)"

# 4. rig3's agent died after announcing "off"; its machine is up: shown failed, with why.
failed3() {
    on rig1 status | grep -E '^rig3 ' | grep -q " failed .*announced off, but its agent's port refuses connections (the machine is up, no agent) and its BMC says the power is on"
}
eventually 90 failed3 || { on rig1 status >&2 || true; fail "rig3 is not shown failed"; }
note "rig3 shown failed $(elapsed_s "$t_committed") s after its off command started (it kills the agent 25 s in; probes begin ${OFF_CHECK_S} s after 'off'): $(on rig1 status | grep -E '^rig3 ' | sed 's/.*; //')"
shown_on_rig2=$(member_state rig2 rig3)
[[ $shown_on_rig2 == failed ]] || fail "rig2 shows rig3 $shown_on_rig2, not failed"

# 5. rig4, once really off (its guest moved away first), is off, not failed: it does not
# answer and its BMC says off.
rig4_off() { [[ $(rig power rig4 status) == off && $(member_state rig1 rig4) == off ]]; }
eventually 120 rig4_off || { on rig1 status >&2 || true; fail "rig4 was not powered off after its guest moved"; }
t_off=$EPOCHREALTIME
sleep $((OFF_CHECK_S + 8))
[[ $(member_state rig1 rig4) == off ]] ||
    fail "rig4, powered off, is shown $(member_state rig1 rig4): $(on rig1 status | grep -E '^rig4 ')"
note "rig4 powered off: still 'off' $(elapsed_s "$t_off") s later (probed silent, BMC off)"

# 6. rig2, undrained, is powered off while its libvirtd is stopped (SIGSTOP): its agent closes
# the gate and asks libvirt, which answers 2 s later, long after the grant (a lease's worth) ran
# out. The power-off is refused at its commit, nothing announced, the gate open again.
LIBVIRTD2=$(cat "/run/$NODECTL_RIG/rig2/libvirtd.pid")
kill -STOP "$LIBVIRTD2"
on rig2 undrain rig2 >/dev/null || { kill -CONT "$LIBVIRTD2"; fail "undrain rig2"; }
asked() { grep -q "power off: inbound gate closed" "$WORK/rig2/agent.log"; }
if ! eventually 60 asked; then
    kill -CONT "$LIBVIRTD2"
    fail "rig2 was not asked to power off once undrained"
fi
sleep 2
kill -CONT "$LIBVIRTD2"
expired() { grep -q "refused: power off: the grant expired while libvirt was asked" "$WORK/rig2/agent.log"; }
eventually 30 expired || fail "rig2's power-off was not refused when libvirt answered after its grant"
# Its log, from the first power-off to its refusal: no announcement, and the gate opened again.
first=$(awk '/power off: inbound gate closed/ { on = 1 } on { print } /grant expired while libvirt/ { exit }' \
    "$WORK/rig2/agent.log")
if grep -q "announced 'off'" <<<"$first"; then fail "rig2 announced 'off' before its power-off was refused"; fi
grep -qE "inbound gate .*: open$" <<<"$first" || fail "rig2's gate did not reopen when its power-off was refused"
note "rig2, its libvirtd stopped 2 s as it took a power-off: $(grep -o 'refused: power off: .*' <<<"$first" | head -1); gate open again"

GUESTS=(rig1-vm1 rig4-vm1)
exactly_once >"$WORK/placement" || fail "guests"
note "every guest started runs once: $(tr '\n' ' ' <"$WORK/placement")"
note "PASS"
