#!/bin/bash
# Watch the leader at work on the rig: 5 hosts with one real KVM
# guest each, rig1-rig3 leader candidates, the leader in `auto`, power-offs
# through the rig's power button, rig4 woken by real Wake-on-LAN packets and
# rig5 through its simulated BMC (IPMI).
#   leader-demo.sh up [PATH/TO/nodectl]   start it (default: build/src/nodectl); prints
#                                         the dashboard's URL inside the rig
#   leader-demo.sh nodectl HOST ARGS...   run nodectl on HOST (status, plan, events --follow ...)
#   leader-demo.sh load PERCENT           every guest's CPU demand, through the synthetic load file
#   leader-demo.sh down                   stop it all
# Needs root. Uses its own rig instance (NODECTL_RIG=nodectl-rig-demo).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export NODECTL_RIG=nodectl-rig-demo
WORK=/run/nodectl-rig-demo-work
TEST_NAME=leader-demo
NODECTL=$(cat "$WORK/nodectl" 2>/dev/null || true)
source "$HERE/cluster.sh"
GUESTS=(rig1-vm1 rig2-vm1 rig3-vm1 rig4-vm1 rig5-vm1)

case ${1:-} in
    up)
        NODECTL=$(realpath "${2:-$HERE/../../build/src/nodectl}")
        [[ -x $NODECTL ]] || fail "no nodectl binary at $NODECTL (build first, or name it)"
        rm -rf "$WORK" && mkdir -p "$WORK"
        echo "$NODECTL" >"$WORK/nodectl"
        IPMI_HOSTS=(rig5)
        cluster_up 5 1 rig1 rig2 rig3
        note "up: 5 hosts; watch with: $0 nodectl rig1 status"
        note "dashboard: http://$(rig addr rig1):9750/ (every host serves one on its address," \
             "port 9750), reachable inside the rig, e.g.:" \
             "$HERE/rig exec rig2 curl -s http://$(rig addr rig1):9750/metrics"
        ;;
    nodectl)
        [[ $# -ge 3 ]] || fail "usage: $0 nodectl HOST ARGS..."
        shift
        on "$@"
        ;;
    load)
        [[ ${2:-} =~ ^[0-9]+$ ]] && (($2 <= 100)) || fail "usage: $0 load PERCENT (0-100)"
        load "$2"
        ;;
    down)
        rig down
        rm -rf "$WORK"
        ;;
    *)
        sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2
        exit 2
        ;;
esac
