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
#   leader-demo.sh tour [PATH/TO/nodectl] [SHOT.png]
#                                         the whole story at once: up with busy
#                                         guests, load falls (consolidation, power-
#                                         offs; a headless Chromium inside rig2
#                                         saves the leader's dashboard while it
#                                         runs, as SHOT.png if named), load rises
#                                         (wake-ups); prints each step; stays up
# Needs root. Uses its own rig instance (NODECTL_RIG, default nodectl-rig-demo).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export NODECTL_RIG=${NODECTL_RIG:-nodectl-rig-demo}
WORK=/run/$NODECTL_RIG-work
TEST_NAME=leader-demo
NODECTL=$(cat "$WORK/nodectl" 2>/dev/null || true)
source "$HERE/cluster.sh"
GUESTS=(rig1-vm1 rig2-vm1 rig3-vm1 rig4-vm1 rig5-vm1)

# Starts the rig and the agents with every guest at LOAD % (a binary at
# PATH, default build/src/nodectl).
demo_up() {
    NODECTL=$(realpath "${1:-$HERE/../../build/src/nodectl}")
    [[ -x $NODECTL ]] || fail "no nodectl binary at $NODECTL (build first, or name it)"
    rm -rf "$WORK" && mkdir -p "$WORK"
    echo "$NODECTL" >"$WORK/nodectl"
    IPMI_HOSTS=(rig5)
    cluster_make 5 1 rig1 rig2 rig3
    load "$2"
    cluster_start
}

# The dashboard of host H, as a client inside the rig reaches it.
dashboard_url() { printf 'http://%s:9750/' "$(rig addr "$1")"; }

# Prints where host H's dashboard is, once a client inside the rig (rig2)
# gets an answer from it; fails otherwise.
dashboard_note() {
    local url
    url=$(dashboard_url "$1")
    eventually 30 rig exec rig2 /usr/bin/python3 -c \
        'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2).read()' \
        "${url}api/state" ||
        fail "the dashboard at $url does not answer inside the rig"
    note "dashboard: $url (every host serves one on its address, port 9750); inside the" \
         "rig only, e.g.: $HERE/rig exec rig2 curl -s ${url}metrics"
}

# The leader every powered candidate names, once they agree (see cluster.sh).
demo_leader() { status_field rig1 's["leader"] or ""'; }

# The leader's events whose text matches the regular expression RE.
leader_events_matching() { on "$(demo_leader)" events | grep -E "$1" || true; }

tour() {
    local shot=${2:-} t0 shooter leader rc=0
    have_leader() { [[ -n $(demo_leader) ]]; }
    demo_up "$1" 90
    note "up: 5 hosts, one guest each, every guest at 90 % CPU: nothing to consolidate"
    eventually 60 have_leader || fail "no leader within 60 s"
    leader=$(demo_leader)
    note "leader: $leader"
    dashboard_note "$leader"
    # The browser watches the leader's page (its plan is there) from rig2,
    # a candidate: never powered off.
    timeout 300 "$HERE/rig" exec rig2 /usr/bin/python3 "$HERE/dashboard_shot.py" \
        "$(dashboard_url "$leader")" "$WORK/dashboard.png" "$WORK/chromium" 180 \
        >"$WORK/shot.log" 2>&1 &
    shooter=$!
    eventually 60 grep -q '^watching ' "$WORK/shot.log" ||
        fail "the browser in rig2 did not open the page: $(tail -3 "$WORK/shot.log")"
    note "load 1 %: the leader consolidates the guests and powers the idle hosts off"
    load 1
    t0=$SECONDS
    wait "$shooter" || rc=$?
    if ((rc == 0)); then
        note "the dashboard of $leader after $((SECONDS - t0)) s, while it showed:"
        grep -v '^watching ' "$WORK/shot.log" >&2
        if [[ -n $shot ]]; then
            # A palette of at most 256 colours: the page's flat colours keep
            # their look at half the size or less.
            pngquant --quality=60-90 --speed 1 --strip --force -o "$shot" "$WORK/dashboard.png" ||
                cp "$WORK/dashboard.png" "$shot"
            note "saved as $shot ($(stat -c %s "$shot") bytes)"
        fi
    else
        note "no screenshot: $(tail -3 "$WORK/shot.log")"
    fi
    both_off() { [[ $(member_state rig1 rig4) == off && $(member_state rig1 rig5) == off ]]; }
    eventually 180 both_off || fail "rig4 and rig5 are not off after 180 s"
    note "rig4 and rig5 off after $((SECONDS - t0)) s; the leader's events:"
    leader_events_matching 'plan|migrate|power-off' | tail -12 >&2
    note "load 90 %: the leader wakes rig4 (Wake-on-LAN) and rig5 (IPMI) and spreads the guests"
    load 90
    t0=$SECONDS
    both_on() { [[ $(member_state rig1 rig4) == alive && $(member_state rig1 rig5) == alive ]]; }
    eventually 180 both_on || fail "rig4 and rig5 were not woken within 180 s"
    note "rig4 and rig5 woken after $((SECONDS - t0)) s; the wake-ups:"
    leader_events_matching 'power-on' >&2
    grep -E 'wol: magic packet|bmc rig[0-9]+: IPMI chassis power on' \
        "/run/$NODECTL_RIG/power.log" | tail -4 >&2 || true
    leader=$(demo_leader)
    dashboard_note "$leader"
    on "$leader" plan >&2
    note "still up: $0 nodectl rig1 status | events --follow | plan; $0 load PCT; $0 down"
    return "$rc"
}

case ${1:-} in
    up)
        demo_up "${2:-}" 1
        note "up: 5 hosts; watch with: $0 nodectl rig1 status"
        dashboard_note rig1
        ;;
    tour)
        [[ ${2:-} == *.png ]] && set -- "$1" "" "$2"
        tour "${2:-}" "${3:-}"
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
