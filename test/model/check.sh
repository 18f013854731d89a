#!/bin/sh
# Model check of the election: test/model/election.pml with spin.
#   check.sh [WORKDIR]
# 1. The model as it is: pan must report "errors: 0" and a finished search
#    (no "Search not completed", no depth limit hit).
# 2. Negative variants, each with one safeguard of the C code removed: pan
#    must find a counterexample, or the properties would be vacuous.
# Parameters and why: README.md next to this file.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=${1:-$(mktemp -d)}
mkdir -p "$work"
cd "$work"
cp "$here/election.pml" .

# The positive run: bitstate (see README.md: the exhaustive state space of
# even the smallest useful configuration does not fit in two minutes).
BOUNDS="-DT=2 -DMAXTERM=2 -DNMSG=2"
spin $BOUNDS -a election.pml >/dev/null
cc -O2 -w -DSAFETY -DNOREDUCE -DBITSTATE -o pan pan.c
./pan -m1000000 -w25 -k3 >pan.out 2>&1 || true
cat pan.out
fail=0
grep -q "errors: 0" pan.out || { echo "FAIL: spin found an error (trail: $work)"; fail=1; }
if grep -q -e "Search not completed" -e "max search depth too small" pan.out; then
    echo "FAIL: search incomplete"
    fail=1
fi

# Negative variants: a counterexample within a short depth is enough.
for v in NO_RESTART_STICKY NO_STICKY VOTE_NOT_PERSISTED NO_ADDRESS_CHECK; do
    mkdir -p "neg-$v"
    (cd "neg-$v" && cp ../election.pml . &&
        spin -D$v -DT=3 -DMAXTERM=2 -DNMSG=2 -a election.pml >/dev/null &&
        cc -O2 -w -DSAFETY -DNOREDUCE -DCOLLAPSE -o pan pan.c &&
        { ./pan -m40 -w24 >pan.out 2>&1 || true; })
    if grep -q "assertion violated" "neg-$v/pan.out"; then
        echo "negative $v: counterexample found as expected: $(grep 'assertion violated' "neg-$v/pan.out")"
    else
        echo "FAIL: negative variant $v found no counterexample"
        cat "neg-$v/pan.out"
        fail=1
    fi
done
exit $fail
