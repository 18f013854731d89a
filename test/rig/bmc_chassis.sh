#!/bin/sh
# The chassis of a rig host as its simulated BMC sees it: ipmi_sim (OpenIPMI's BMC simulator,
# one per host, started by `rig up` in the switch namespace) runs this as its chassis_control
# program (ipmi_lan(5)) with the protocol of OpenIPMI's lanserv/ipmi_sim_chassiscontrol:
#   bmc_chassis.sh RIG_CMD STATE HOST get power      prints power:1 or power:0
#   bmc_chassis.sh RIG_CMD STATE HOST set power 1|0  `rig power HOST on|off`
# The state is the one `rig power HOST status` reads ($STATE/HOST/power, absent = on). ipmi_sim
# waits for this program before it answers, and ipmitool resends a request after about three
# seconds, so a power change is started detached and the answer goes back at once, as a real BMC
# acknowledges Chassis Control before the host has booted. What happens is in power.log.
set -u
rig_cmd=$1 state=$2 host=$3 op=$4
shift 4
log() { printf '%s bmc %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$host" "$*" >>"$state/power.log"; }
case $op in
    get)
        for parm in "$@"; do
            case $parm in
                power)
                    if [ "$(cat "$state/$host/power" 2>/dev/null)" = off ]; then echo power:0
                    else echo power:1; fi ;;
                *) echo "unsupported: $parm"; exit 1 ;;
            esac
        done ;;
    set)
        [ "${1:-}" = power ] || { echo "unsupported: ${1:-}"; exit 1; }
        case ${2:-} in
            1) what=on ;;
            0) what=off ;;
            *) echo "bad power value: ${2:-}"; exit 1 ;;
        esac
        log "IPMI chassis power $what: running 'rig power $host $what'"
        setsid "$rig_cmd" power "$host" "$what" </dev/null >/dev/null 2>&1 &
        ;;
    *) echo "unsupported operation: $op"; exit 1 ;;
esac
