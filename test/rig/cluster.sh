# Sourced by the rig's agent and leader tests and benchmark (issue [6]): a nodectl
# cluster of rig hosts with the leader in `auto`, power control through the
# rig (off command = the rig's "power button", wake = a real Wake-on-LAN
# packet caught by the rig's power controller, or IPMI to the host's
# simulated BMC for the hosts in IPMI_HOSTS), and the checks the tests
# share. Needs: HERE (test/rig), NODECTL (the binary), WORK (a directory).
# Every client runs inside a rig host.

rig() { "$HERE/rig" "$@"; }
note() { printf '%s: %s\n' "${TEST_NAME:-rig}" "$*" >&2; }
fail() {
    printf '%s: FAIL: %s\n' "${TEST_NAME:-rig}" "$*" >&2
    exit 1
}

# nodectl as host H's administrator would run it there.
on() {
    local h=$1
    shift
    rig exec "$h" "$NODECTL" -c "$WORK/$h/nodectl.conf" "$@"
}

# Retries CMD... for up to $1 seconds until it succeeds.
eventually() {
    local until=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < until)) || return 1
        sleep 0.5
    done
}

# The cluster's identities as an operator makes them (README): a cluster key
# and a CA in $WORK/pki (made once), then host H's key and certificate
# (--candidate when CANDIDATE is "candidate"). Prints the [cluster] lines
# that name them.
identity_lines() {
    local h=$1 candidate=${2:-} pk
    if [[ ! -f $WORK/pki/ca/ca.pub ]]; then
        mkdir -p "$WORK/pki"
        "$NODECTL" keygen "$WORK/pki/cluster.key"
        "$NODECTL" ca init "$WORK/pki/ca" >/dev/null 2>&1
    fi
    mkdir -p "$WORK/pki/$h"
    pk=$("$NODECTL" identity init --key "$WORK/pki/$h/host.key" 2>/dev/null)
    "$NODECTL" ca sign --ca "$WORK/pki/ca" ${candidate:+--candidate} -o "$WORK/pki/$h/host.cert" \
        "$h" "$pk" 2>/dev/null
    cat <<LINES
key_file = $WORK/pki/cluster.key
keyring_file = $WORK/pki/$h/keyring
ca_file = $WORK/pki/ca/ca.pub
cert_file = $WORK/pki/$h/host.cert
host_key_file = $WORK/pki/$h/host.key
LINES
}

# Writes the synthetic CPU demand of every guest: load PERCENT.
load() {
    local vm
    : >"$WORK/load.new"
    for vm in "${GUESTS[@]}"; do printf '%s %s\n' "$vm" "$1" >>"$WORK/load.new"; done
    mv "$WORK/load.new" "$WORK/load"
}

# cluster_up N_HOSTS GUESTS_PER_HOST CANDIDATES... : the rig, one agent per
# host (started again at every power-on), leader settings for a quick test:
# cluster_make, then cluster_start.
cluster_up() {
    cluster_make "$@"
    cluster_start
}

# cluster_make N_HOSTS GUESTS_PER_HOST CANDIDATES... : the rig and every
# host's configuration, no agent yet. Every host holds the rig BMCs'
# credentials; the hosts named in the array IPMI_HOSTS (if set) declare
# their BMC, so the leader powers them on by IPMI. A host's off command is
# the rig's power button unless the associative array OFF_COMMANDS (if
# declared) names another; LEADER_EXTRA (if set) adds lines to [leader].
cluster_make() {
    local n=$1 m=$2 h addr seeds bmc bmc_user bmc_pw bmc_line off
    shift 2
    CANDIDATES=("$@")
    rig up "$n" "$m" >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log" >&2; fail "rig up"; }
    mapfile -t HOSTS < <(rig hosts)
    GUESTS=()
    for h in "${HOSTS[@]}"; do
        for ((k = 1; k <= m; k++)); do GUESTS+=("$h-vm$k"); done
    done
    load 1
    seeds=""
    for h in "${CANDIDATES[@]:0:2}"; do seeds+="${seeds:+, }$(rig addr "$h"):7946"; done
    for h in "${HOSTS[@]}"; do
        addr=$(rig addr "$h")
        read -r bmc bmc_user bmc_pw < <(rig bmc "$h")
        bmc_line=""
        [[ " ${IPMI_HOSTS[*]:-} " == *" $h "* ]] && bmc_line="ipmi_address = $bmc"
        off=$(rig power-off-command "$h")
        if declare -p OFF_COMMANDS >/dev/null 2>&1 && [[ -n ${OFF_COMMANDS[$h]:-} ]]; then
            off=${OFF_COMMANDS[$h]}
        fi
        mkdir -p "$WORK/$h/state"
        cat >"$WORK/$h/nodectl.conf" <<CONF
[cluster]
name = rig
$(identity_lines "$h" "$([[ " ${CANDIDATES[*]} " == *" $h "* ]] && echo candidate)")
seeds = $seeds
candidates = $(IFS=,; echo "${CANDIDATES[*]}")
[node]
name = $h
bind_address = $addr
state_dir = $WORK/$h/state
control_socket = $WORK/$h/ctl.sock
[hypervisor]
uri = qemu:///system
sample_interval = 1s
migration_uri = qemu+tcp://$addr/system
migration_address = tcp://$addr
migration_timeout = 60s
synthetic_load_file = $WORK/load
[leader]
automation = auto
plan_interval = 2s
max_migrations = 2
power_on_timeout = 60s
vm_cooldown = 1s
wake_cooldown = 1ms
${LEADER_EXTRA:-}
[power]
off_command = $off
ipmi_user = $bmc_user
ipmi_password_file = $bmc_pw
ipmi_cipher_suite = 3
$bmc_line
CONF
    done
}

# Starts every host's agent, again at every power-on.
cluster_start() {
    local h
    for h in "${HOSTS[@]}"; do
        rig boot "$h" "$WORK/$h/agent.log" "$NODECTL" agent -c "$WORK/$h/nodectl.conf" >/dev/null
    done
}

# The exit trap of a cluster test: on failure (the script's exit status, or
# RC) the tail of every agent's log and of the power log; then the rig goes
# down and WORK is removed.
cluster_exit() {
    local rc=${1:-$?} f
    if ((rc != 0)); then
        for f in "$WORK"/rig*/agent*.log "/run/$NODECTL_RIG/power.log"; do
            [[ -f $f ]] && { echo "--- $f (last 25 lines)"; tail -25 "$f"; } >&2
        done
    fi
    rig down >/dev/null 2>&1 || true
    rm -rf "$WORK"
}

# The pid of host H's agent, if it runs.
agent_pid() { pgrep -f -- "agent -c $WORK/$1/nodectl.conf" | head -1; }

# Starts host H's agent again (after a kill -9).
agent_restart() {
    rig spawn "$1" "$WORK/$1/agent.restart.log" "$NODECTL" agent -c "$WORK/$1/nodectl.conf" >/dev/null
}

# FIELD of `status --json` on host H (python expression over `s`).
status_field() {
    local out
    out=$(on "$1" status --json) || return 1
    python3 -c 'import json,sys; s=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$out" "$2"
}

# The leader holding a lease as host H sees it, and its term: "NAME TERM".
leader_seen() {
    status_field "$1" '"%s %d" % (s["leader"], s["term"]) if s["leader"] else ""'
}

# Gossip state of member M as host H sees it.
member_state() {
    status_field "$1" "next((m['state'] for m in s['members'] if m.get('name') == '$2'), '')"
}

# The hosts whose libvirtd answers (powered on).
powered_hosts() {
    local h
    for h in "${HOSTS[@]}"; do
        [[ $(rig power "$h" status) == on ]] && printf '%s\n' "$h"
    done
}

# Every guest runs on exactly one host, asked of every powered host's own
# libvirtd. Prints "vm host" lines; fails with the offenders on stderr.
exactly_once() {
    local h vm bad=0
    declare -A where=()
    for h in $(powered_hosts); do
        while read -r vm; do
            [[ -n $vm ]] || continue
            where[$vm]="${where[$vm]:-}${where[$vm]:+,}$h"
        done < <(rig exec "$h" virsh -q -c qemu:///system list --name --state-running 2>/dev/null)
    done
    for vm in "${GUESTS[@]}"; do
        if [[ -z ${where[$vm]:-} ]]; then
            printf 'lost: %s runs nowhere\n' "$vm" >&2
            bad=1
        elif [[ ${where[$vm]} == *,* ]]; then
            printf 'duplicated: %s runs on %s\n' "$vm" "${where[$vm]}" >&2
            bad=1
        else
            printf '%s %s\n' "$vm" "${where[$vm]}"
        fi
    done
    return "$bad"
}

# Commands of a term older than T_NEW that an agent executed after it had
# learned term T_NEW: "host: line" for each, from the agents' logs (each
# log is one agent's own order of events).
stale_executions() {
    local t_new=$1 h
    for h in "${HOSTS[@]}"; do
        cat "$WORK/$h"/agent*.log 2>/dev/null | awk -v h="$h" -v t="$t_new" '
            /event: term [0-9]+:/ { match($0, /event: term [0-9]+/); n = substr($0, RSTART + 12, RLENGTH - 12) + 0; if (n >= t) seen = 1 }
            /nodectl [^ ]+ agent: node/ { seen = 0 }
            seen && /command [0-9a-f-]+ from [^ ]+ \(term [0-9]+\):/ {
                match($0, /\(term [0-9]+\)/); c = substr($0, RSTART + 6, RLENGTH - 7) + 0
                if (c < t) print h ": " $0 }'
    done
}

# The leader's plan has nothing proposed or under way.
plan_settled() {
    local leader=$1 out
    out=$(on "$leader" plan --json) || return 1
    python3 - "$out" <<'PY'
import json, sys
p = json.loads(sys.argv[1])
busy = [a for a in p.get("actions", []) if a["state"] in ("proposed", "dispatched")]
sys.exit(1 if busy or p.get("note") else 0)
PY
}

# The leader's plan has a migration dispatched and not finished.
migration_dispatched() {
    local out
    out=$(on "$1" plan --json) || return 1
    python3 - "$out" <<'PY'
import json, sys
p = json.loads(sys.argv[1])
sys.exit(0 if any(a["kind"] == "migrate" and a["state"] == "dispatched"
                  for a in p.get("actions", [])) else 1)
PY
}
