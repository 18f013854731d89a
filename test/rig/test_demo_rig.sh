#!/bin/bash
# The rig demo as a newcomer runs it (README, "Watching a consolidation"):
# `leader-demo.sh tour` brings up 5 hosts, prints the leader's dashboard URL
# only once a client inside the rig gets an answer from it, saves the page
# from a headless Chromium inside rig2 while the leader moves guests or
# powers a host off, and prints the wake-ups when the load rises. Checked:
# it succeeds, the URL it prints is a rig address, the page it saved showed
# an action under way, both wake-ups were printed (a magic packet for rig4,
# IPMI for rig5). The screenshot is kept in ARTIFACT_DIR.
#   test_demo_rig.sh PATH/TO/nodectl ARTIFACT_DIR
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ ${1:-} != --body ]]; then
    export NODECTL=${1:?usage: test_demo_rig.sh PATH/TO/nodectl ARTIFACT_DIR}
    export ARTIFACTS=${2:?usage: test_demo_rig.sh PATH/TO/nodectl ARTIFACT_DIR}
    shift 2
fi
source "$HERE/supervise.sh"
rig_supervise demo 300 "$@"

TEST_NAME=test_demo_rig
fail() {
    printf '%s: FAIL: %s\n' "$TEST_NAME" "$*" >&2
    exit 1
}
mkdir -p "$ARTIFACTS"
shot=$ARTIFACTS/leader-demo.png
out=$(mktemp /tmp/nodectl-demo-rig.XXXXXX)
trap '"$HERE/leader-demo.sh" down >/dev/null 2>&1 || true; rm -f "$out"' EXIT
rm -f "$shot"
"$HERE/leader-demo.sh" tour "$NODECTL" "$shot" >"$out" 2>&1 || { cat "$out" >&2; fail "the tour failed"; }
cat "$out" >&2
grep -Eq '^leader-demo: dashboard: http://10\.77\.0\.[0-9]+:9750/ ' "$out" ||
    fail "no dashboard URL on the rig's network printed"
grep -Eq '^  dispatched +(migrate|power-off) ' "$out" || fail "the page saved showed nothing under way"
[[ -s $shot ]] || fail "no screenshot at $shot"
grep -q 'power-on rig4 .*magic packet from ' "$out" || fail "the wake-up of rig4 by Wake-on-LAN was not printed"
grep -q 'power-on rig5 .*IPMI power on through its BMC from ' "$out" ||
    fail "the power-on of rig5 through its BMC was not printed"
echo "$TEST_NAME: ok: the URL answered inside the rig, the page showed the leader at work ($shot)," \
     "both wake-ups printed"
