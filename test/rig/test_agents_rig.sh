#!/bin/bash
# nodectl agents on the rig: 3 hosts with real libvirtd and 2
# KVM guests each. Every agent reports its real guests; `nodectl vms` on any
# host lists all 6 on the right hosts; `nodectl migrate --wait` moves a
# running guest live, it keeps running, and every host's view follows within
# seconds; a migration to a dead host or of an unknown VM fails with a clear
# message; killing and restarting a host's libvirtd leaves its agent running
# and reconnected. Every client runs inside a rig host.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The nodectl binary to test: the first argument (the supervised child gets
# it through the environment).
if [[ ${1:-} != --body ]]; then
    export NODECTL=${1:?usage: test_agents_rig.sh PATH/TO/nodectl}
    shift
fi
source "$HERE/supervise.sh"
rig_supervise agents 280 "$@"

TEST_NAME=test_agents_rig
# rig, note, fail, on (nodectl inside a host), eventually: shared with the
# leader tests.
source "$HERE/cluster.sh"
WORK=$(mktemp -d /tmp/nodectl-agents-rig.XXXXXX)
# Seconds since $1 (an $EPOCHREALTIME), to a tenth.
elapsed_s() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
trap 'rig down >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

rig up 3 2 >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log" >&2; fail "rig up"; }
declare -A PID
start_agent() {
    local h=$1 addr
    addr=$(rig addr "$h")
    mkdir -p "$WORK/$h"
    cat >"$WORK/$h/nodectl.conf" <<CONF
[cluster]
name = rig
$(identity_lines "$h" candidate)
seeds = $(rig addr rig1):7946
candidates = rig1, rig2, rig3
[node]
name = $h
bind_address = $addr
state_dir = $WORK/$h/state
control_socket = $WORK/$h/ctl.sock
[hypervisor]
uri = qemu:///system
sample_interval = 1s
migration_uri = qemu+tcp://$addr/system
migration_address = tcp://$addr
migration_timeout = 60s
CONF
    PID[$h]=$(rig spawn "$h" "$WORK/$h/agent.log" "$NODECTL" agent -c "$WORK/$h/nodectl.conf")
}
for h in rig1 rig2 rig3; do start_agent "$h"; done

# All six guests, on the right hosts, from every host's view.
six_guests() {
    local h=$1 out
    out=$(on "$h" vms --json) || return 1
    python3 - "$out" <<'PY'
import json, sys
vms = {v["name"]: (v["host"], v["state"]) for v in json.loads(sys.argv[1])}
want = {f"rig{k}-vm{m}": (f"rig{k}", "running") for k in (1, 2, 3) for m in (1, 2)}
sys.exit(0 if vms == want else 1)
PY
}
for h in rig1 rig2 rig3; do
    eventually 60 six_guests "$h" || { on "$h" vms >&2 || true; fail "$h does not list the 6 guests on their hosts"; }
done
note "every agent lists the 6 real guests on their hosts"

# A live migration asked from a third host.
t0=$SECONDS
on rig3 migrate rig1-vm1 rig2 --wait >"$WORK/migrate.out" 2>&1 ||
    { cat "$WORK/migrate.out" >&2; tail -20 "$WORK/rig1/agent.log" >&2; fail "nodectl migrate --wait"; }
note "migrated rig1-vm1 to rig2 in $((SECONDS - t0)) s: $(tr '\n' ' ' <"$WORK/migrate.out")"
[[ $(rig exec rig2 virsh -q -c qemu:///system domstate rig1-vm1) == running ]] ||
    fail "rig1-vm1 does not run on rig2 after the migration"
rig exec rig1 virsh -q -c qemu:///system dominfo rig1-vm1 >/dev/null 2>&1 &&
    fail "rig1-vm1 is still defined on rig1"
on_rig2() { [[ $(on "$1" find rig1-vm1) == $'rig2\trunning' ]]; }
for h in rig1 rig2 rig3; do
    eventually 10 on_rig2 "$h" || fail "$h does not show rig1-vm1 on rig2"
done
note "every host sees rig1-vm1 on rig2"

# Refusals with a reason.
if on rig2 migrate nosuchvm rig1 2>"$WORK/err"; then fail "migrating an unknown VM succeeded"; fi
grep -q "VM 'nosuchvm' is on no live host" "$WORK/err" || fail "unknown VM: $(cat "$WORK/err")"
kill -9 "${PID[rig3]}"
dead() { on rig1 members | grep -Eq '^rig3 +[^ ]+ +dead'; }
eventually 30 dead || fail "rig3 is not marked dead"
if on rig1 migrate rig2-vm1 rig3 2>"$WORK/err"; then fail "migrating to a dead host succeeded"; fi
grep -q "host 'rig3' is dead, not alive" "$WORK/err" || fail "dead host: $(cat "$WORK/err")"
note "unknown VM and dead host refused with their reasons"

# libvirtd goes away and comes back: the agent stays up, says so at once
# (libvirt's close callback), and reconnects within about a second of
# libvirtd answering again (the socket's reappearance, not a backoff timer).
# Down for DOWN_S seconds: long enough for a backoff to have grown.
DOWN_S=12
RECONNECT_MAX_S=2
t_stop=$EPOCHREALTIME
rig libvirtd rig2 stop
t_gone=$EPOCHREALTIME
unavailable() { on rig2 status | grep -Eq '^rig2 .*unavailable'; }
eventually 30 unavailable || fail "rig2's agent does not report its hypervisor unavailable"
note "libvirtd stopped in $(awk -v a="$t_stop" -v b="$t_gone" 'BEGIN { printf "%.1f", b - a }') s; rig2's agent reports its hypervisor unavailable $(elapsed_s "$t_gone") s later"
kill -0 "${PID[rig2]}" || fail "rig2's agent died with its libvirtd"
sleep "$(awk -v t="$t_stop" -v now="$EPOCHREALTIME" -v d="$DOWN_S" 'BEGIN { s = t + d - now; printf "%.1f", (s > 0 ? s : 0) }')"
rig libvirtd rig2 start
# `rig libvirtd start` returns once virsh gets an answer: from here libvirtd answers.
t_up=$EPOCHREALTIME
back() { on rig2 status | grep -Eq '^rig2 .* ok$'; }
until back; do
    [[ $(elapsed_s "$t_up" | cut -d. -f1) -lt 60 ]] || fail "rig2's agent did not reconnect within 60 s"
    sleep 0.1
done
reconnect_s=$(elapsed_s "$t_up")
grep -q "reconnected" "$WORK/rig2/agent.log" || fail "no reconnect in rig2's log"
note "reconnect: rig2's agent shows its hypervisor ok $reconnect_s s after libvirtd answered (down ${DOWN_S} s)"
awk -v s="$reconnect_s" -v m="$RECONNECT_MAX_S" 'BEGIN { exit !(s <= m) }' ||
    fail "rig2's agent took $reconnect_s s to reconnect (at most $RECONNECT_MAX_S s)"
note "PASS"
