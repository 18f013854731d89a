#!/bin/bash
# Per-VM placement rules on the rig: 4 hosts with a real libvirtd and one real KVM guest each,
# rig1 and rig2 leader candidates. The rules are set with `nodectl vm set`, asked on other hosts
# than the guests' own, while the leader only advises: rig3-vm1 pinned, rig1-vm1 and rig4-vm1
# in the anti-affinity group "ha"; each lands in its domain's persistent definition on its host
# (virsh metadata --config). Then every agent restarts with the leader in `auto` and, the load
# low, the leader consolidates and powers hosts off: rig4-vm1 moves, never to rig1, and rig4 is
# powered off; the pinned rig3-vm1 stays where it is, so rig3 stays on; every guest runs once.
# Last, `nodectl create --start` of a new KVM guest, typed on a host that does not lead: it is
# defined and runs on the host the leader chose (first fit: the first running host by name, as its
# --dry-run answered), and on no other host. Then a guest with 7 KiB of XML (20 disks, more than one
# frame: it travels deflated) and all of a host's memory but 32 MiB, which only the emptied rig4
# can take: the leader wakes rig4 (Wake-on-LAN through the rig's power controller) and defines
# it there once rig4's agent is back.
# Needs root; fails, never skips.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ ${1:-} != --body ]]; then
    export NODECTL=${1:?usage: test_rules_rig.sh PATH/TO/nodectl}
    shift
fi
source "$HERE/supervise.sh"
rig_supervise rules 420 "$@"

TEST_NAME=test_rules_rig
source "$HERE/cluster.sh"
WORK=$(mktemp -d /tmp/nodectl-rules-rig.XXXXXX)
trap cluster_exit EXIT
NS=https://nodectl.example/xmlns/placement/1

# 1. The rules, set while the leader only advises (the last automation line wins).
LEADER_EXTRA="automation = advise"
cluster_make 4 1 rig1 rig2
cluster_start
has_leader() { [[ -n $(leader_seen rig1) ]]; }
eventually 60 has_leader || fail "no leader within 60 s"
sees_all() { [[ $(on rig2 vms | grep -c -- '-vm1 ') -eq 4 ]]; }
eventually 60 sees_all || fail "rig2 does not list the 4 guests: $(on rig2 vms 2>&1)"
on rig2 vm set rig3-vm1 pinned=yes || fail "vm set rig3-vm1 pinned=yes"
on rig2 vm set rig1-vm1 group=ha || fail "vm set rig1-vm1 group=ha"
on rig3 vm set rig4-vm1 group=ha || fail "vm set rig4-vm1 group=ha"
config_has() {
    rig exec "$1" virsh -q -c qemu:///system metadata "$2" --uri "$NS" --config | grep -qF "$3"
}
config_has rig3 rig3-vm1 'pinned="yes"' || fail "rig3-vm1's persistent definition is not pinned"
config_has rig4 rig4-vm1 'group="ha"' || fail "rig4-vm1's persistent definition has no group"
on rig1 vms | grep -Eq '^rig3-vm1 +rig3 .* yes +- ' || fail "vms does not show rig3-vm1 pinned: $(on rig1 vms)"
note "rules set: rig3-vm1 pinned, rig1-vm1 and rig4-vm1 in group ha"

# 2. Every agent again, the leader in auto.
for h in "${HOSTS[@]}"; do
    sed -i '/^automation = advise$/d' "$WORK/$h/nodectl.conf"
    kill -TERM "$(agent_pid "$h")"
done
stopped() { local h; for h in "${HOSTS[@]}"; do [[ -z $(agent_pid "$h") ]] || return 1; done; }
eventually 30 stopped || fail "the agents did not stop"
for h in "${HOSTS[@]}"; do agent_restart "$h"; done
eventually 60 has_leader || fail "no leader within 60 s of the restart"
note "leader in auto: $(leader_seen rig1)"

# 3. The consolidation: rig4 emptied and powered off, rig3 kept on by its pinned guest.
rig4_off() { [[ $(member_state rig1 rig4) == off && $(rig power rig4 status) == off ]]; }
t0=$SECONDS
eventually 240 rig4_off || { on rig1 status >&2 || true; fail "rig4 was not powered off"; }
note "rig4 powered off after $((SECONDS - t0)) s"
leader=$(leader_seen rig1 | cut -d' ' -f1)
eventually 60 plan_settled "$leader" || { on "$leader" plan >&2 || true; fail "the plan did not settle"; }
exactly_once >"$WORK/placement" || fail "guests after the consolidation"
note "placement: $(tr '\n' ' ' <"$WORK/placement")"
grep -qx 'rig3-vm1 rig3' "$WORK/placement" || fail "the pinned rig3-vm1 moved"
h1=$(awk '$1 == "rig1-vm1" { print $2 }' "$WORK/placement")
h4=$(awk '$1 == "rig4-vm1" { print $2 }' "$WORK/placement")
[[ $h4 != rig4 ]] || fail "rig4-vm1 still runs on rig4"
[[ $h1 != "$h4" ]] || fail "rig1-vm1 and rig4-vm1, of group ha, share $h1"
[[ $(rig power rig3 status) == on ]] || fail "rig3, with its pinned guest, is not on"
on "$leader" events | grep -q "rig4-vm1" || fail "the leader's events do not mention rig4-vm1"
note "pinned guest stayed on rig3; group ha on $h1 and $h4; rig4 off"

# 4. A new guest through nodectl create, asked on a host that does not lead.
asker=rig3
[[ $leader != "$asker" ]] || asker=rig2
type=$(cat "/run/$NODECTL_RIG/domain-type")
cat >"$WORK/rig-new.xml" <<XML
<domain type='$type'>
  <name>rig-new</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <memballoon model='virtio'/>
  </devices>
</domain>
XML
dry=$(on "$asker" create "$WORK/rig-new.xml" --policy first-fit --dry-run) ||
    fail "create --dry-run: $dry"
chosen=$(sed -n 's/^rig-new: would go to \([^ ,]*\).*/\1/p' <<<"$dry")
[[ $chosen == rig1 ]] || fail "first fit did not choose rig1, the first running host: $dry"
out=$(on "$asker" create "$WORK/rig-new.xml" --policy first-fit --start 2>&1) ||
    fail "create --start: $out"
grep -qx "rig-new defined and started on $chosen" <<<"$out" || fail "create did not report $chosen: $out"
[[ $(rig exec "$chosen" virsh -q -c qemu:///system domstate rig-new) == running ]] ||
    fail "rig-new does not run on $chosen: $(rig exec "$chosen" virsh -c qemu:///system list --all)"
for h in $(powered_hosts); do
    [[ $h == "$chosen" ]] && continue
    ! rig exec "$h" virsh -q -c qemu:///system dominfo rig-new >/dev/null 2>&1 ||
        fail "rig-new is defined on $h too"
done
# Read whole first: grep -q stops at its match, and the writer's SIGPIPE would fail the pipeline.
events=$(on "$leader" events) || fail "events on $leader"
grep -q "create: rig-new on $chosen" <<<"$events" || fail "the leader's events do not show the create"
note "created: $(head -1 <<<"$out"); it runs on $chosen only"

# 5. A guest only the host that is off can take: the leader wakes it.
kib=$(rig exec rig1 virsh -c qemu:///system nodeinfo | awk '/^Memory size:/ { print $3 }')
letters=abcdefghijklmnopqrst
{
    printf "<domain type='%s'>\n  <name>rig-big</name>\n" "$type"
    printf "  <memory unit='KiB'>%d</memory>\n  <vcpu>1</vcpu>\n" $((kib - 32 * 1024))
    printf "  <os><type arch='x86_64' machine='pc'>hvm</type></os>\n  <devices>\n"
    printf "    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
    for i in $(seq 0 19); do
        printf "    <disk type='file' device='disk'>\n      <driver name='qemu' type='qcow2' cache='none'/>\n"
        printf "      <source file='/var/lib/libvirt/images/rig-big-%d.qcow2'/>\n" "$i"
        printf "      <target dev='vd%s' bus='virtio'/>\n    </disk>\n" "${letters:i:1}"
        printf "    <interface type='ethernet'>\n      <mac address='52:54:00:7e:00:%02x'/>\n" "$i"
        printf "      <model type='virtio'/>\n    </interface>\n"
    done
    printf "  </devices>\n</domain>\n"
} >"$WORK/rig-big.xml"
size=$(stat -c %s "$WORK/rig-big.xml")
((size > 6000 && size < 8192)) || fail "rig-big.xml is $size bytes, not 6000 to 8192"
[[ $(rig power rig4 status) == off ]] || fail "rig4 is not off before the create"
t0=$SECONDS
out=$(on "$asker" create "$WORK/rig-big.xml" --policy first-fit 2>&1) || fail "create rig-big: $out"
grep -q "^rig-big: host rig4, which is off: the leader wakes it first" <<<"$out" ||
    fail "create rig-big did not wake rig4: $out"
grep -qx "rig-big defined on rig4" <<<"$out" || fail "create rig-big did not report rig4: $out"
rig exec rig4 virsh -q -c qemu:///system dominfo rig-big >/dev/null ||
    fail "rig-big is not defined on rig4"
[[ $(rig exec rig4 virsh -q -c qemu:///system dumpxml rig-big | grep -c "<disk ") -eq 20 ]] ||
    fail "rig-big on rig4 does not have its 20 disks"
note "rig-big ($size bytes of XML) woken onto rig4 and defined there in $((SECONDS - t0)) s"
