# Sourced by the rig's end-to-end tests. ctest's TIMEOUT kills a test with
# SIGKILL, which no trap survives; so a test runs its checks as a child with
# a budget below that timeout, and the parent, the supervisor, always tears
# the test's own rig instance down afterwards.
#   rig_supervise NAME BUDGET_S "$@"   (returns only in the child, with --body)

rig_supervise() {
    local name=$1 budget=$2
    shift 2
    if [[ ${1:-} == --body ]]; then
        return 0
    fi
    [[ $(id -u) -eq 0 ]] ||
        { echo "$name: FAIL: needs root (namespaces, libvirtd); exclude with 'ctest -LE rig'" >&2; exit 1; }
    # Its own instance, so a test never touches a rig a developer has up.
    export NODECTL_RIG=nodectl-rig-$name-$$
    timeout --kill-after=15 "$budget" "$0" --body &
    local body=$! rc=0
    # The body runs in timeout's own process group: pass a Ctrl-C on, so its
    # trap tears the rig down.
    trap 'kill -TERM "$body" 2>/dev/null || true' INT TERM
    while :; do
        wait "$body" || rc=$?
        kill -0 "$body" 2>/dev/null || break
        rc=0
    done
    trap - INT TERM
    ((rc != 124)) || echo "$name: FAIL: the checks did not finish within ${budget}s" >&2
    "$(dirname "${BASH_SOURCE[0]}")/rig" down >/dev/null 2>&1 ||
        { echo "$name: FAIL: final 'rig down' failed" >&2; exit 1; }
    exit "$rc"
}
