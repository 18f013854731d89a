#!/bin/bash
# Power in the rig (ctest label "rig"; test/rig/README.md, "Power"): a boot command registered on
# rig2 runs; rig2 powers itself off through `rig power-off-command`, run inside rig2 and detached
# as a nodectl agent runs it, and everything in it stops (daemons, guest, boot command) while the
# power-off process itself ran outside rig2 and rig1 is untouched; Wake-on-LAN packets sent from
# inside rig1 with a broadcast socket: one for an unknown MAC and a malformed one change nothing
# and are logged, a real one for rig2's MAC brings rig2 back (libvirtd answers, the boot command
# runs again); each host's simulated BMC (ipmi_sim in the switch namespace) answers ipmitool run
# inside rig1: it reports rig2's power, refuses a wrong password, and its Chassis Control powers
# rig2 off and on again (boot command included); `down` also stops the power controller and the
# BMCs. Needs root; fails, never skips.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RIG_CMD=$HERE/rig
# Covers an apt install on a fresh machine (about 15 s) and the run (about 20 s with KVM).
BODY_TIMEOUT_S=180
# How long rig2 may take to power off, and to come back after its magic packet.
OFF_TIMEOUT_S=20
WAKE_TIMEOUT_S=30

fail() {
    printf 'test_power_rig: FAIL: %s\n' "$*" >&2
    exit 1
}
note() { printf 'test_power_rig: %s\n' "$*" >&2; }
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
rig() { "$RIG_CMD" "$@"; }

source "$HERE/supervise.sh"
rig_supervise powertest "$BODY_TIMEOUT_S" "$@"

STATE=/run/$NODECTL_RIG
POWER_LOG=$STATE/power.log
T0=$EPOCHREALTIME
trap 'rig down >/dev/null 2>&1 || true' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Alive and not a zombie (a killed child of this script stays one until reaped).
running() { [[ -e /proc/$1 && $(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) =~ ^[^ZX]$ ]]; }
net_of() { readlink "/proc/$1/ns/net"; }
netns_key() { printf 'net:[%s]' "$(stat -L -c %i "/run/netns/$NODECTL_RIG-$1")"; }
power_is() { [[ $(rig power "$1" status) == "$2" ]]; }
libvirtd_answers() { rig exec "$1" virsh -q -c qemu:///system version >/dev/null 2>&1; }

# Polls CMD every 0.1 s for up to $1 seconds.
within() {
    local s=$1 i
    shift
    for ((i = 0; i < s * 10; i++)); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

# Sends a UDP broadcast to the rig's 10.77.0.255 port 9 from inside host $1, with the payload
# given in hex: a real socket in a rig namespace, as a nodectl agent sends a magic packet.
send_udp() {
    rig exec "$1" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.sendto(bytes.fromhex(sys.argv[1]), ("10.77.0.255", 9))' "$2"
}
# What a TCP connect from inside host $1 to $2:$3 gets: refused (the machine is up, nothing
# listens), silent (no answer: no SYN-ACK, no RST), or open.
tcp_probe() {
    rig exec "$1" python3 -c '
import errno, socket, sys
s = socket.socket()
s.settimeout(3)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print("open")
except ConnectionRefusedError:
    print("refused")
except (socket.timeout, OSError) as e:
    print("silent" if isinstance(e, socket.timeout) or e.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH) else "error %s" % e)' "$2" "$3"
}
magic_hex() { printf 'ffffffffffff'; for _ in $(seq 16); do printf '%s' "${1//:/}"; done; }
logged() { grep -qF -- "$1" "$POWER_LOG"; }
boot_pids() { sed -n 's/^booted //p' "$STATE/boot.log" 2>/dev/null | xargs; }
boot_count_is() { [[ $(boot_pids | wc -w) -eq $1 ]]; }

# 1. Up, with the power controller in the switch namespace and still no rig route outside it.
t=$EPOCHREALTIME
rig up 2 1
note "up 2 hosts x 1 guest: $(elapsed "$t") s"
ctl=$(cat "$STATE/wol-listener.pid")
running "$ctl" || fail "the power controller $ctl is not running"
[[ $(net_of "$ctl") == "$(netns_key switch)" ]] || fail "the power controller is not in the switch namespace"
ip route show | grep -q '10\.77\.0\.' && fail "the root namespace has a route to the rig: $(ip route show | grep '10\.77\.0\.')"
for h in rig1 rig2; do
    [[ $(rig power "$h" status) == on ]] || fail "$h is not on after up"
done
rig status | grep -q '^rig2 10.77.0.2 power=on ' || fail "rig status shows no power state: $(rig status)"

# 2. A boot command on rig2 (its output appended to the log on every start).
boot1=$(rig boot rig2 "$STATE/boot.log" sh -c 'echo "booted $$"; exec sleep 100000')
[[ $(net_of "$boot1") == "$(netns_key rig2)" ]] || fail "boot command $boot1 is not in rig2"
within 5 boot_count_is 1 || fail "the boot command wrote nothing"
[[ $(boot_pids) == "$boot1" ]] || fail "boot log says '$(boot_pids)', expected '$boot1'"

# 3. rig2 powers itself off, from inside, detached, as the nodectl agent will. While on, a
# port where nothing listens refuses at once.
[[ $(tcp_probe rig1 10.77.0.2 7946) == refused ]] || fail "rig2, on, does not refuse a connection to a closed port"
mapfile -t before < <(find /proc/[0-9]*/ns/net -maxdepth 0 -printf '%l %h\n' 2>/dev/null |
    awk -v k="$(netns_key rig2)" '$1 == k { split($2, p, "/"); print p[3] }')
qemu=$(for p in "${before[@]}"; do if grep -qaF guest=rig2-vm1 "/proc/$p/cmdline" 2>/dev/null; then echo "$p"; fi; done)
[[ -n $qemu ]] && running "$qemu" || fail "rig2-vm1's qemu is not running"
line=$(rig power-off-command rig2)
t=$EPOCHREALTIME
rig exec rig2 setsid sh -c "$line" &
off_caller=$!
within "$OFF_TIMEOUT_S" power_is rig2 off ||
    fail "rig2 is not off ${OFF_TIMEOUT_S}s after its power-off command: $(tail -3 "$POWER_LOG")"
note "rig2 powered itself off in $(elapsed "$t") s"
wait "$off_caller" || fail "the power-off command line failed"
for p in "${before[@]}" "$boot1" "$qemu"; do
    ! running "$p" || fail "process $p ($(tr '\0' ' ' <"/proc/$p/cmdline")) survived rig2's power off"
done
! libvirtd_answers rig2 || fail "rig2's libvirtd still answers after power off"
offline=$(grep -F 'rig2: powering off (pid ' "$POWER_LOG" | tail -1)
[[ $offline =~ \(pid\ ([0-9]+),\ (net:\[[0-9]+\])\) ]] || fail "no power-off record: '$offline'"
[[ ${BASH_REMATCH[2]} != "$(netns_key rig2)" ]] || fail "the power-off process ran inside rig2's network namespace"
[[ " ${before[*]} " != *" ${BASH_REMATCH[1]} "* ]] || fail "the power-off process was one of rig2's"
libvirtd_answers rig1 || fail "rig1's libvirtd stopped with rig2"
[[ $(rig exec rig1 virsh -q -c qemu:///system list --name --state-running | xargs) == rig1-vm1 ]] ||
    fail "rig1's guest stopped with rig2"
# Off, it does not answer at all, as a machine without power.
[[ $(tcp_probe rig1 10.77.0.2 7946) == silent ]] || fail "rig2, off, answers: $(tcp_probe rig1 10.77.0.2 7946)"
rig power rig2 off 2>/dev/null || fail "a second power off failed"
! rig spawn rig2 /dev/null sleep 1 2>/dev/null || fail "spawn on a host that is off succeeded"

# 4. Packets that must change nothing: for a MAC of no rig host, and not a magic packet (the sync
# stream, then a MAC repeated only 15 times).
send_udp rig1 "$(magic_hex 02:77:00:00:00:09)"
send_udp rig1 "$(magic_hex 02:77:00:00:00:02 | cut -c1-192)"
within 5 logged 'magic packet for 02:77:00:00:00:09 from 10.77.0.1: not a rig host; ignored' ||
    fail "the packet for an unknown MAC was not logged"
within 5 logged 'malformed packet (96 bytes) from 10.77.0.1; ignored' ||
    fail "the malformed packet was not logged"
[[ $(rig power rig2 status) == off ]] || fail "a packet that was not rig2's powered it on"

# 5. A real magic packet for rig2 (after other bytes: the spec allows it anywhere in the
# payload) brings it back with its boot command.
t=$EPOCHREALTIME
send_udp rig1 "0011$(magic_hex 02:77:00:00:00:02)"
within "$WAKE_TIMEOUT_S" power_is rig2 on ||
    fail "rig2 is not on ${WAKE_TIMEOUT_S}s after its magic packet"
libvirtd_answers rig2 || fail "rig2 is on but its libvirtd does not answer"
[[ $(tcp_probe rig1 10.77.0.2 7946) == refused ]] || fail "rig2, on again, is not reachable"
note "rig2 woken by a magic packet in $(elapsed "$t") s"
logged 'magic packet for 02:77:00:00:00:02 from 10.77.0.1: rig2 powering on' || fail "the wake-up was not logged"
within 5 boot_count_is 2 || fail "the boot command did not run again: '$(boot_pids)'"
boot2=$(boot_pids | awk '{ print $2 }')
running "$boot2" && [[ $(net_of "$boot2") == "$(netns_key rig2)" ]] ||
    fail "the boot command $boot2 does not run in rig2"
[[ $(rig exec rig2 virsh -q -c qemu:///system list --all --name | xargs) == rig2-vm1 ]] ||
    fail "rig2's libvirtd lost its guest definition"

# 6. A packet for a host that is on, and power on when on, change nothing.
send_udp rig1 "$(magic_hex 02:77:00:00:00:02)"
within 5 logged 'magic packet for 02:77:00:00:00:02 from 10.77.0.1: rig2 is on; ignored' ||
    fail "the packet for rig2 while on was not logged as ignored"
rig power rig2 on 2>/dev/null
[[ $(boot_pids | wc -w) -eq 2 ]] || fail "a packet or power on for a host that is on started its boot command again"

# 7. rig2's BMC, from inside rig1 as a nodectl agent runs ipmitool: its power state is rig2's, a
# wrong password changes nothing, Chassis Control powers rig2 off and on.
read -r bmc bmc_user bmc_pw < <(rig bmc rig2)
[[ $bmc == 10.77.0.254:6232 ]] || fail "rig bmc rig2 says '$bmc'"
bmc_pid=$(cat "$STATE/rig2/bmc/ipmi_sim.pid")
running "$bmc_pid" && [[ $(net_of "$bmc_pid") == "$(netns_key switch)" ]] ||
    fail "rig2's BMC $bmc_pid does not run in the switch namespace"
ipmi() { rig exec rig1 ipmitool -I lanplus -C 3 -H "${bmc%:*}" -p "${bmc#*:}" -U "$bmc_user" "$@"; }
[[ $(ipmi -f "$bmc_pw" chassis power status) == 'Chassis Power is on' ]] ||
    fail "rig2's BMC does not say it is on"
printf 'wrong\n' >"$STATE/wrong-password"
! ipmi -f "$STATE/wrong-password" chassis power off 2>/dev/null || fail "a wrong password was taken"
ipmi -f "$bmc_pw" chassis power off >/dev/null || fail "IPMI power off failed"
within "$OFF_TIMEOUT_S" power_is rig2 off || fail "rig2 is not off ${OFF_TIMEOUT_S}s after IPMI power off"
logged 'bmc rig2: IPMI chassis power off' || fail "the IPMI power off was not logged"
[[ $(ipmi -f "$bmc_pw" chassis power status) == 'Chassis Power is off' ]] ||
    fail "rig2's BMC does not say it is off"
t=$EPOCHREALTIME
ipmi -f "$bmc_pw" chassis power on >/dev/null || fail "IPMI power on failed"
within "$WAKE_TIMEOUT_S" power_is rig2 on || fail "rig2 is not on ${WAKE_TIMEOUT_S}s after IPMI power on"
libvirtd_answers rig2 || fail "rig2 is on but its libvirtd does not answer"
note "rig2 powered on through its BMC in $(elapsed "$t") s"
logged 'bmc rig2: IPMI chassis power on' || fail "the IPMI power on was not logged"
within 5 boot_count_is 3 || fail "the boot command did not run again: '$(boot_pids)'"
boot3=$(boot_pids | awk '{ print $3 }')

# 8. Down stops the power controller, the BMCs and the boot command too.
bmcs=$(cat "$STATE"/rig*/bmc/ipmi_sim.pid | xargs)
rig down
for p in "$ctl" $bmcs "$boot3"; do
    ! running "$p" || fail "process $p survived down"
done
[[ ! -e $STATE && -z $(ip netns list | grep "^$NODECTL_RIG-" || true) ]] || fail "down left state or namespaces"
note "PASS in $(elapsed "$T0") s"
