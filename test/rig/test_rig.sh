#!/bin/bash
# The rig's own test (ctest label "rig"): an interrupted `up` leaves nothing behind; 3 hosts x 2
# guests come up, each host's libvirtd sees exactly its own running guests; a guest migrates
# live rig1 -> rig2 (p2p, persistent, undefined on the source) and then runs on rig2 only; a
# process spawned in a host runs in that host's namespace; a libvirtd restart keeps the guests;
# `down` leaves no namespace, process or
# mount, and is idempotent. Needs root and a libvirt/QEMU install (test/rig/install-deps.sh,
# which `rig up` runs); it fails, never skips, when it cannot run, so a CI that silently lost its
# end-to-end coverage cannot look green.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RIG_CMD=$HERE/rig
# ctest's TIMEOUT (test/CMakeLists.txt, 300 s) kills this script with SIGKILL, which no trap
# survives; so the checks run as a child with a budget well below it, and this script, the
# supervisor, always tears the rig down afterwards. The budget covers the apt install on a fresh
# machine (about 15 s) and the run itself (about 35 s with KVM).
BODY_TIMEOUT_S=240

fail() {
    printf 'test_rig: FAIL: %s\n' "$*" >&2
    exit 1
}
note() { printf 'test_rig: %s\n' "$*" >&2; }
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
rig() { "$RIG_CMD" "$@"; }

if [[ ${1:-} != --body ]]; then
    [[ $(id -u) -eq 0 ]] ||
        fail "needs root (network/mount namespaces, libvirtd); run as root or exclude with 'ctest -LE rig'"
    # Its own instance, so the test never touches a rig a developer has up on this machine.
    export NODECTL_RIG=nodectl-rig-test-$$
    timeout --kill-after=15 "$BODY_TIMEOUT_S" "$0" --body &
    body=$!
    # The body runs in timeout's own process group, so a Ctrl-C reaches only this script: pass
    # it on, so that the body stops and its trap tears the rig down.
    trap 'kill -TERM "$body" 2>/dev/null || true' INT TERM
    rc=0
    while :; do
        wait "$body" || rc=$?
        kill -0 "$body" 2>/dev/null || break
        rc=0
    done
    trap - INT TERM
    ((rc != 124)) || note "FAIL: the checks did not finish within ${BODY_TIMEOUT_S}s"
    rig down >/dev/null 2>&1 || fail "final 'rig down' failed"
    exit "$rc"
fi

STATE=/run/$NODECTL_RIG
T0=$EPOCHREALTIME

# Names of the guests on HOST that `virsh list` shows with FLAGS, sorted, on one line.
guests() {
    local h=$1
    shift
    rig exec "$h" virsh -q -c qemu:///system list --name "$@" | sed '/^$/d' | sort | xargs
}

# Whatever happens below, nothing of this rig survives the checks; a signal exits through the
# EXIT trap too.
trap 'rig down >/dev/null 2>&1 || true' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Every trace of the rig on the machine: its namespaces' inodes (network from /run/netns, mount
# and UTS from the state directory) and the pids of processes inside any of them.
snapshot_rig() {
    local f
    NS_KEYS=()
    for f in /run/netns/"$NODECTL_RIG"-*; do
        [[ -e $f ]] && NS_KEYS+=("net:[$(stat -L -c %i "$f")]")
    done
    for f in "$STATE"/rig*/mntns "$STATE"/rig*/utsns; do
        [[ -e $f ]] && NS_KEYS+=("$(basename "$f" | sed 's/ns$//'):[$(stat -L -c %i "$f")]")
    done
    RIG_PIDS=()
    mapfile -t RIG_PIDS < <(pids_in_ns "${NS_KEYS[@]}")
}

pids_in_ns() {
    [[ $# -gt 0 ]] || return 0
    { find /proc/[0-9]*/ns -maxdepth 1 -type l \( -name net -o -name mnt -o -name uts \) \
        -printf '%l %h\n' 2>/dev/null || true; } |
        awk -v keys="$*" 'BEGIN { n = split(keys, k, " "); for (i = 1; i <= n; i++) w[k[i]] = 1 }
                          $1 in w { split($2, p, "/"); print p[3] }' | sort -un
}

# After `down`: no namespace named after the rig, no mount under its state directory, no process
# left from the snapshot, and no process at all inside one of the rig's namespaces.
assert_nothing_left() {
    local what=$1 p left
    [[ -z $(ip netns list | grep "^$NODECTL_RIG-" || true) ]] ||
        fail "$what: namespaces left: $(ip netns list | grep "^$NODECTL_RIG-" | xargs)"
    ! grep -q " $STATE" /proc/self/mountinfo ||
        fail "$what: mounts left: $(grep " $STATE" /proc/self/mountinfo | awk '{print $5}' | xargs)"
    [[ ! -e $STATE ]] || fail "$what: $STATE left"
    for p in "${RIG_PIDS[@]}"; do
        [[ ! -e /proc/$p ]] || fail "$what: process $p left: $(tr '\0' ' ' <"/proc/$p/cmdline")"
    done
    left=$(pids_in_ns "${NS_KEYS[@]}" | xargs)
    [[ -z $left ]] || fail "$what: processes left inside the rig's namespaces: $left"
}

# 1. An `up` interrupted while rig1's libvirtd is starting tears down what it had built.
# The script itself in the background (not the rig() function, whose subshell would take the
# signal instead of the script).
"$RIG_CMD" up 3 2 >/dev/null 2>&1 &
up_pid=$!
for ((i = 0; i < 600; i++)); do
    [[ -s $STATE/rig1/libvirtd.pid ]] && break
    kill -0 "$up_pid" 2>/dev/null || break
    sleep 0.05
done
[[ -s $STATE/rig1/libvirtd.pid ]] || fail "interrupted up: rig1's libvirtd never started"
snapshot_rig
[[ ${#RIG_PIDS[@]} -ge 2 ]] || fail "interrupted up: expected virtlogd and libvirtd, saw ${RIG_PIDS[*]-none}"
kill -TERM "$up_pid"
rc=0
wait "$up_pid" || rc=$?
[[ $rc -eq 143 ]] || fail "interrupted up exited $rc, expected 143 (SIGTERM)"
assert_nothing_left "after interrupted up"
note "interrupted up: torn down, nothing left"

# 2. Up: every host's libvirtd lists exactly its own two running, persistent guests.
t=$EPOCHREALTIME
rig up 3 2
note "up 3 hosts x 2 guests: $(elapsed "$t") s"
for k in 1 2 3; do
    want="rig$k-vm1 rig$k-vm2"
    got=$(guests "rig$k" --state-running)
    [[ $got == "$want" ]] || fail "rig$k runs '$got', expected '$want'"
    got=$(guests "rig$k" --all --persistent)
    [[ $got == "$want" ]] || fail "rig$k defines '$got', expected '$want'"
    [[ $(rig exec "rig$k" hostname) == "rig$k" ]] || fail "rig$k: wrong hostname"
done

# 3. A process spawned in rig3 runs in rig3's network namespace (and `down` must kill it).
spawned=$(rig spawn rig3 "$STATE/sleep.log" sleep 600)
[[ $(readlink "/proc/$spawned/ns/net") == "net:[$(stat -L -c %i "/run/netns/$NODECTL_RIG-rig3")]" ]] ||
    fail "spawned process $spawned is not in rig3's network namespace"

# 3b. rig3's libvirtd stops and starts again; its guests run on and the new daemon finds them.
rig libvirtd rig3 stop
! rig exec rig3 virsh -q -c qemu:///system version >/dev/null 2>&1 || fail "rig3's libvirtd still answers"
rig libvirtd rig3 start
[[ $(guests rig3 --state-running) == "rig3-vm1 rig3-vm2" ]] ||
    fail "after a libvirtd restart rig3 runs '$(guests rig3 --state-running)'"

# 4. Live migration rig1 -> rig2, driven from inside rig1 as a client on a rig host would.
dest=$(rig addr rig2)
t=$EPOCHREALTIME
rig exec rig1 virsh -q -c qemu:///system migrate --live --p2p --persistent --undefinesource \
    rig1-vm1 "qemu+tcp://$dest/system" "tcp://$dest"
note "live migration rig1-vm1 rig1 -> rig2: $(elapsed "$t") s wall time"
[[ $(guests rig2 --state-running) == "rig1-vm1 rig2-vm1 rig2-vm2" ]] ||
    fail "after migration rig2 runs '$(guests rig2 --state-running)'"
[[ $(guests rig2 --all --persistent) == "rig1-vm1 rig2-vm1 rig2-vm2" ]] ||
    fail "after migration rig2 defines '$(guests rig2 --all --persistent)' (not persistent?)"
[[ $(guests rig1 --all) == "rig1-vm2" ]] ||
    fail "after migration rig1 still has '$(guests rig1 --all)' (not undefined on the source?)"
[[ $(guests rig3 --state-running) == "rig3-vm1 rig3-vm2" ]] || fail "rig3 changed during migration"

# 5. Down leaves nothing, and a second down is a no-op that succeeds.
snapshot_rig
[[ " ${RIG_PIDS[*]} " == *" $spawned "* ]] || fail "spawned process $spawned not seen as part of the rig"
t=$EPOCHREALTIME
rig down
note "down: $(elapsed "$t") s"
assert_nothing_left "after down"
rig down || fail "second down failed"
assert_nothing_left "after second down"
note "PASS in $(elapsed "$T0") s"
