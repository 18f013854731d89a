#!/bin/bash
# HA restart with fencing on the rig (issue "VMs survive their host";
# docs/safety.md, "The protected gate"): 4 hosts, rig1 the only leader
# candidate; two protected guests (ha=yes) on each of rig2 and rig3, their
# disk images on the rig's shared storage; nodectl's qemu hook on every host.
#   1. rig3 loses power (the rig's button): once its BMC has confirmed it
#      off, its guests run on other hosts, each exactly once;
#   2. rig2 is cut from the network but keeps its power: its run lease
#      lapses and it destroys its guests itself; the leader restarts them
#      elsewhere after its wait; never two copies at once;
#   3. rig3 is powered on again with one of its stale guests marked for
#      libvirt's autostart: its libvirtd tries to start it before the agent
#      runs and the hook refuses; the agent reconciles and undefines the
#      definitions that now run elsewhere; rig2's link comes back and it
#      does the same;
#   4. a host running guests is cut from the network and loses its
#      libvirtd: its self-fence cannot ask libvirt, so it kills its guests'
#      qemu processes itself; they run elsewhere, once; its libvirtd and
#      link come back and it undefines them. No guest ever runs twice (a
#      watcher looks every 0.3 s on every powered host's libvirtd, and at
#      the machine's qemu processes).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ ${1:-} != --body ]]; then
    export NODECTL=${1:?usage: test_ha_rig.sh PATH/TO/nodectl}
    shift
fi
source "$HERE/supervise.sh"
rig_supervise ha 420 "$@"

TEST_NAME=test_ha_rig
source "$HERE/cluster.sh"
source "$HERE/ha.sh"
WORK=$(mktemp -d /tmp/nodectl-ha-rig.XXXXXX)
on_exit() {
    local rc=$?
    ha_watch_stop
    if ((rc != 0)); then
        for h in rig1 rig2 rig3 rig4; do
            echo "--- $h protected gate: $(ha_gate "$h")" >&2
        done
        [[ -f $WORK/duplicates ]] && { echo "--- duplicates"; cat "$WORK/duplicates"; } >&2
    fi
    cluster_exit "$rc"
}
trap on_exit EXIT
elapsed_s() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
# The time stamp (cluster.sh's agent_command) of the first line of host H's
# log that matches the pattern; "" when none does.
first_at() { awk -v re="$2" '$0 ~ re { print $1; exit }' "$WORK/$1/agent.log"; }
# Fails unless the event A (host, pattern) came before the event B.
before() {
    local a b
    a=$(first_at "$1" "$2")
    b=$(first_at "$3" "$4")
    [[ -n $a && -n $b ]] || fail "missing: '$2' on $1 ('$a') or '$4' on $3 ('$b')"
    awk -v a="$a" -v b="$b" 'BEGIN { exit !(a <= b) }' ||
        fail "'$4' on $3 at $b came before '$2' on $1 at $a"
}
virsh_on() {
    local h=$1
    shift
    rig exec "$h" virsh -q -c qemu:///system "$@"
}

# rig3 has a BMC the leader can power off and read back; rig2 has none, so
# the leader can only count on its self-fence.
IPMI_HOSTS=(rig1 rig3)
# A lease long enough that rig3's BMC, not the self-fence wait (T * 1.1 +
# 1 s), is the evidence the leader restarts its guests on.
HA_FENCE_TIMEOUT_S=20
cluster_make 4 0 rig1
ha_settings
cluster_start
# In advise the plan keeps its proposals (power-offs of the empty hosts), so
# "settled" is every host reconciled under a leader with its run lease.
ha_ready_everywhere 120
# Started once the agents are ready: before, the hook refuses them.
ha_guests_make rig2 2
ha_guests_make rig3 2
ha_replicated
note "cluster up; protected guests: ${HA_GUESTS[*]}"
ha_watch_start

# 1. Power loss: the BMC confirms it off, then the guests run elsewhere.
t0=$EPOCHREALTIME
rig power rig3 off
eventually 90 ha_run_elsewhere rig3 rig3-ha1 rig3-ha2 ||
    fail "rig3's guests do not run elsewhere: $(running_guests | tr '\n' ' ')"
note "power loss: rig3's guests run elsewhere $(elapsed_s "$t0") s after the power cut"
# The leader (rig1) restarted them elsewhere only after rig3's BMC confirmed
# it off. (A restart in place may come earlier: the leader can see a guest
# between ha_guests_make's define and start, and starts it where it is.)
before rig1 "HA: rig3's BMC confirmed it off" rig1 "HA: restarting rig3-ha.* from rig3 on"
[[ $(rig power rig3 status) == off ]] || fail "rig3 is not off"

# 2. Partition: rig2 fences itself, then its guests run elsewhere, once.
t0=$EPOCHREALTIME
net_fault rig2 cut
eventually 60 grep -q "self-fence: .*protected VM(s) destroyed" "$WORK/rig2/agent.log" ||
    fail "rig2 did not fence itself"
note "partition: rig2 fenced itself $(elapsed_s "$t0") s after the cut"
[[ -z $(guests_on rig2) ]] || fail "rig2 still runs $(guests_on rig2 | tr '\n' ' ')"
eventually 90 ha_run_elsewhere rig2 rig2-ha1 rig2-ha2 ||
    fail "rig2's guests do not run elsewhere: $(running_guests | tr '\n' ' ')"
note "partition: rig2's guests run elsewhere $(elapsed_s "$t0") s after the cut"
[[ $(ha_gate rig2) == fenced:* ]] || fail "rig2's gate is not fenced: $(ha_gate rig2)"
# rig2 destroyed its guests before the leader restarted any elsewhere.
before rig2 "self-fence: .*protected VM" rig1 "HA: restarting rig2-ha.* from rig2 on"
# Its hypervisor refuses to start a protected guest while fenced.
if virsh_on rig2 start rig2-ha1 >"$WORK/start.out" 2>&1; then
    fail "rig2 started rig2-ha1 while fenced"
fi
grep -q "fenced itself" "$WORK/start.out" || fail "rig2's refusal: $(cat "$WORK/start.out")"

# 3. The fenced hosts come back: nothing starts twice; stale definitions go.
ln -sf /etc/libvirt/qemu/rig3-ha1.xml "/run/$NODECTL_RIG/rig3/etc/qemu/autostart/rig3-ha1.xml" 2>/dev/null ||
    { mkdir -p "/run/$NODECTL_RIG/rig3/etc/qemu/autostart" &&
      ln -sf /etc/libvirt/qemu/rig3-ha1.xml "/run/$NODECTL_RIG/rig3/etc/qemu/autostart/rig3-ha1.xml"; }
rig power rig3 on
net_fault rig2 clear
for h in rig2 rig3; do
    eventually 60 grep -q '^ready pid=' "$WORK/$h/state/protected" ||
        fail "$h did not reconcile after its return: its gate says '$(ha_gate "$h")'"
done
grep -q "refuses the start of 'rig3-ha1'" "$WORK/rig3/agent.log" "/run/$NODECTL_RIG/rig3/log/libvirtd.log" 2>/dev/null ||
    note "rig3's libvirtd logged no refused autostart (it may not have tried)"
# The reconcile may have seen only its peers' records of before the cut;
# a ready host undefines its stale copies once newer ones show them
# elsewhere (records are republished within a few seconds of a change).
undefined_on() { ! virsh_on "$1" dominfo "$2"; }
for vm in rig2-ha1 rig2-ha2; do
    eventually 20 undefined_on rig2 "$vm" || fail "rig2 still defines $vm, which runs elsewhere"
done
for vm in rig3-ha1 rig3-ha2; do
    eventually 20 undefined_on rig3 "$vm" || fail "rig3 still defines $vm, which runs elsewhere"
done
# 4. Cut off, then libvirtd down: the self-fence kills the qemu processes.
victim=
for h in rig4 rig3 rig2; do
    [[ -n $(guests_on "$h") ]] && { victim=$h; break; }
done
[[ -n $victim ]] || fail "no host but the leader runs a protected guest: $(running_guests | tr '\n' ' ')"
mapfile -t vguests < <(guests_on "$victim")
# Cut first: the leader's last record of the host shows its guests (one
# published after libvirtd stopped would list none, and nothing would be
# restarted: docs/ha.md, "Not done").
t0=$EPOCHREALTIME
net_fault "$victim" cut
rig libvirtd "$victim" stop
eventually 60 grep -q "its QEMU .pid [0-9]*. killed" "$WORK/$victim/agent.log" ||
    fail "$victim did not kill its guests' qemu processes"
note "libvirtd down: $victim killed its guests' qemu processes $(elapsed_s "$t0") s after the cut"
eventually 90 ha_run_elsewhere "$victim" "${vguests[@]}" ||
    fail "$victim's guests do not run elsewhere: $(running_guests | tr '\n' ' ')"
note "libvirtd down: ${vguests[*]} run elsewhere $(elapsed_s "$t0") s after the cut"
before "$victim" "its QEMU .pid [0-9]*. killed" rig1 "HA: restarting ${vguests[0]} .*from $victim on"
rig libvirtd "$victim" start
net_fault "$victim" clear
eventually 60 grep -q '^ready pid=' "$WORK/$victim/state/protected" ||
    fail "$victim did not reconcile after its return: its gate says '$(ha_gate "$victim")'"
for vm in "${vguests[@]}"; do
    eventually 20 undefined_on "$victim" "$vm" || fail "$victim still defines $vm, which runs elsewhere"
done

sleep 5
ha_watch_stop
ha_run_elsewhere none || fail "not every protected guest runs exactly once: $(running_guests | tr '\n' ' ')"
[[ -z $(ha_duplicates) ]] || fail "guests ran twice: $(ha_duplicates | tr '\n' ' ')"
note "PASS: every protected guest ran exactly once throughout"
