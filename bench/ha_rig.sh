#!/bin/bash
# HA restart with IPMI fencing, timed on the rig: 4 hosts (rig1 the only
# leader candidate, every host with a BMC), two protected guests (ha=yes,
# disks on the rig's shared storage) on each of rig2-rig4. ITERATIONS times,
# the host that runs the most protected guests (never rig1) loses power
# through the rig's button, and the figures are printed:
#   restart_s   from the power cut to every guest it ran running on another
#               host, each exactly once (every powered host's libvirtd
#               polled every 0.2 s);
#   duplicates  protected guests seen running on two hosts at once (a
#               watcher, every 0.3 s, over the whole run);
# then p50 and max of restart_s. The host is powered on again and rejoins
# (its agent reconciles) before the next iteration.
#   usage: bench/ha_rig.sh PATH/TO/nodectl [ITERATIONS]   (root; ~1 min each)
#   RIG_KEEP=DIR keeps every log of a failed run in DIR (test/rig/cluster.sh); a run
#   that saw a duplicate prints what the watcher saw and fails.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/../test/rig" && pwd)
NODECTL=${1:?usage: bench/ha_rig.sh PATH/TO/nodectl [ITERATIONS]}
# Absolute: the rig's libvirt hook runs it from elsewhere.
export NODECTL=$(realpath "$NODECTL")
N=${2:-5}
export NODECTL_RIG=nodectl-rig-bench-ha-$$
TEST_NAME=ha_rig
source "$HERE/cluster.sh"
source "$HERE/ha.sh"
WORK=$(mktemp -d /tmp/nodectl-bench-ha.XXXXXX)
# On failure: the tail of every log, and all of them in RIG_KEEP=DIR if set.
on_exit() {
    local rc=$?
    ha_watch_stop
    ((rc == 0)) || [[ ! -f $WORK/duplicates ]] || { echo "--- duplicates"; cat "$WORK/duplicates"; } >&2
    cluster_exit "$rc"
}
trap on_exit EXIT

IPMI_HOSTS=(rig1 rig2 rig3 rig4)
cluster_make 4 0 rig1
ha_settings
cluster_start
ha_ready_everywhere 120
for h in rig2 rig3 rig4; do ha_guests_make "$h" 2; done
ha_replicated
ready() { grep -q '^ready pid=' "$WORK/$1/state/protected"; }
ha_watch_start

# The host (not rig1) running the most protected guests.
victim() {
    running_guests | awk '$2 != "rig1" { n[$2]++ } END { for (h in n) print n[h], h }' |
        sort -rn | awk 'NR == 1 { print $2 }'
}

times=()
for ((i = 1; i <= N; i++)); do
    v=$(victim)
    [[ -n $v ]] || fail "no host other than rig1 runs a protected guest"
    mapfile -t moved < <(guests_on "$v")
    t0=$EPOCHREALTIME
    rig power "$v" off
    until ha_run_elsewhere "$v" "${moved[@]}"; do
        [[ $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { print (b - a > 180) }') == 0 ]] ||
            fail "iteration $i: ${moved[*]} not running elsewhere 180 s after $v lost power"
        sleep 0.2
    done
    s=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
    times+=("$s")
    printf 'iteration %d: %s lost power with %d protected guest(s): restart_s=%s\n' \
        "$i" "$v" "${#moved[@]}" "$s"
    rig power "$v" on
    eventually 60 ready "$v" || fail "iteration $i: $v did not reconcile after power on"
done
ha_watch_stop
dups=$(ha_duplicates | wc -l)
printf '%s\n' "${times[@]}" | sort -n | awk -v d="$dups" -v n="$N" '
    { t[NR] = $1 }
    END { printf "restart_s over %d power losses: p50 %.2f max %.2f; duplicates %d\n",
                 n, t[int((NR + 1) / 2)], t[NR], d }'
# A duplicate fails the run: what the watcher saw, and (RIG_KEEP) every log.
((dups == 0)) || { cat "$WORK/duplicates"; fail "$dups protected guest(s) seen running twice"; }
