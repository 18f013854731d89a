# Sourced by test_ha_rig.sh and bench/ha_rig.sh, after cluster.sh: protected
# guests (ha=yes) whose disk images are on the rig's shared storage (`rig
# shared`), the settings that make HA quick enough to test, and the checks.

# ha_settings: every host's configuration for HA on the rig: the leader in
# `advise` (it neither migrates nor powers hosts off, so that every guest
# move is an HA restart), a short run lease, and nodectl's qemu hook
# registered with every host's libvirtd (as the package installs it).
HA_FENCE_TIMEOUT_S=${HA_FENCE_TIMEOUT_S:-6}
ha_settings() {
    local h
    for h in "${HOSTS[@]}"; do
        sed -i 's/^automation = auto$/automation = advise/' "$WORK/$h/nodectl.conf"
        printf '[ha]\nself_fence_timeout = %ss\nfence_margin = 1s\n' "$HA_FENCE_TIMEOUT_S" \
            >>"$WORK/$h/nodectl.conf"
        rig hook "$h" "$NODECTL" -c "$WORK/$h/nodectl.conf" hook qemu
    done
}

# A guest like the rig's own (64 MiB, boots into SeaBIOS and idles) with one
# raw disk on the shared storage and ha=yes; no serial console nor USB, so
# that libvirt's definition stays within what one frame replicates (2559
# bytes, docs/ha.md). <shareable/>: QEMU takes no
# lock on the image, so a guest started twice runs twice (on a real cluster
# QEMU's lock may refuse the second start; here nodectl alone must prevent
# it, and the checks see it if it does not).
ha_guest_xml() {
    local name=$1 uuid=$2 type=$3 disk=$4 prio=$5
    cat <<EOF
<domain type='$type'>
  <name>$name</name>
  <uuid>$uuid</uuid>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <metadata>
    <nodectl:placement xmlns:nodectl="https://nodectl.example/xmlns/placement/1" pinned="no" ha="yes" ha_priority="$prio"/>
  </metadata>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='$disk'/>
      <target dev='vda' bus='virtio'/>
      <shareable/>
    </disk>
    <controller type='usb' model='none'/>
    <memballoon model='virtio'/>
  </devices>
</domain>
EOF
}

# ha_guests_make HOST COUNT: COUNT protected guests HOST-ha1.. defined and
# started on HOST, each with a 1 MiB disk image on the shared storage; added
# to HA_GUESTS.
HA_GUESTS=()
ha_guests_make() {
    local h=$1 n=$2 j name disk type uuid
    type=$(cat "/run/$NODECTL_RIG/domain-type")
    for ((j = 1; j <= n; j++)); do
        name=$h-ha$j
        disk=$(rig shared)/$name.img
        truncate -s 1M "$disk"
        uuid=$(printf '5a1d4a00-%04x-4000-8000-%012x' "${h#rig}" "$j")
        ha_guest_xml "$name" "$uuid" "$type" "$disk" "$((j * 10))" >"$WORK/$name.xml"
        rig exec "$h" virsh -q -c qemu:///system define "$WORK/$name.xml" >/dev/null ||
            fail "cannot define $name on $h"
        # The leader may see the guest defined and stopped before this
        # start and start it in place itself (docs/ha.md): then it runs.
        rig exec "$h" virsh -q -c qemu:///system start "$name" >/dev/null 2>&1 ||
            [[ $(rig exec "$h" virsh -q -c qemu:///system domstate "$name") == running ]] ||
            fail "cannot start $name on $h"
        HA_GUESTS+=("$name")
    done
}

# Every powered host's running guests, "vm host" lines (each host asked of
# its own libvirtd: a host cut from the network still answers here).
running_guests() {
    local h vm
    for h in $(powered_hosts); do
        while read -r vm; do
            [[ -n $vm ]] && printf '%s %s\n' "$vm" "$h"
        done < <(rig exec "$h" virsh -q -c qemu:///system list --name --state-running 2>/dev/null)
    done
}

# The protected guests that run on a host other than $1 exactly once, each
# on one host; succeeds when that is every one of HA_GUESTS named in the
# rest of the arguments (all of HA_GUESTS when none is named).
ha_run_elsewhere() {
    local not=$1 vm n
    shift
    local want=("$@")
    ((${#want[@]})) || want=("${HA_GUESTS[@]}")
    local list
    list=$(running_guests)
    for vm in "${want[@]}"; do
        n=$(awk -v v="$vm" -v not="$not" '$1 == v && $2 != not' <<<"$list" | wc -l)
        ((n == 1)) || return 1
        awk -v v="$vm" -v not="$not" '$1 == v && $2 == not { f = 1 } END { exit !f }' <<<"$list" &&
            return 1
    done
    return 0
}

# The qemu processes on this machine, one "-uuid" value per line: one per
# running guest of every rig host, whether its libvirtd answers or not.
qemu_uuids() {
    pgrep -a '^qemu' | grep -o -- '-uuid [0-9a-f-]*' | awk '{ print $2 }' || true
}

# A watcher in the background: every 0.3 s, which host runs each protected
# guest, and which qemu processes run; any guest seen running on two hosts
# at once, or any UUID in two qemu processes (the automation only advises:
# no live migration runs two for a while), is written to $WORK/duplicates
# with the time. ha_watch_stop ends it.
ha_watch_start() {
    : >"$WORK/duplicates"
    (
        while :; do
            running_guests | awk -v t="$EPOCHREALTIME" '
                { n[$1]++; on[$1] = on[$1] (on[$1] ? "," : "") $2 }
                END { for (v in n) if (n[v] > 1) printf "%s %s runs on %s\n", t, v, on[v] }' \
                >>"$WORK/duplicates"
            qemu_uuids | sort | uniq -d | awk -v t="$EPOCHREALTIME" '
                { printf "%s %s runs in two qemu processes\n", t, $1 }' >>"$WORK/duplicates"
            sleep 0.3
        done
    ) &
    HA_WATCH=$!
}
ha_watch_stop() {
    [[ -n ${HA_WATCH:-} ]] || return 0
    kill "$HA_WATCH" 2>/dev/null || true
    wait "$HA_WATCH" 2>/dev/null || true
    HA_WATCH=
}
# The guests the watcher saw running twice, one line per guest.
ha_duplicates() { awk '{ print $2 }' "$WORK/duplicates" | sort -u; }

# The protected guests running on host $1 now.
guests_on() { running_guests | awk -v h="$1" '$2 == h { print $1 }'; }

# Host H's protected gate, as its agent wrote it.
ha_gate() { cat "$WORK/$1/state/protected" 2>/dev/null || true; }

# Every host's gate says ready (its agent reconciled and holds its run
# lease) within $1 seconds.
ha_ready_everywhere() {
    local h
    for h in "${HOSTS[@]}"; do
        eventually "$1" grep -q '^ready pid=' "$WORK/$h/state/protected" ||
            fail "$h never reconciled: its gate says '$(ha_gate "$h")'"
    done
}

# The protected guests' definitions have reached the candidates: each host
# sends them every 30 s (docs/ha.md), so one round is waited for; a host
# that could not send one says so in its log.
ha_replicated() {
    local h
    sleep 32
    for h in "${HOSTS[@]}"; do
        ! grep -q "not replicated" "$WORK/$h/agent.log" ||
            fail "$h: $(grep -m1 "not replicated" "$WORK/$h/agent.log")"
    done
}
