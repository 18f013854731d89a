# Sourced by the rig's agent and leader tests and benchmark: a nodectl
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
[http]
listen = $addr:9750
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
        agent_command "$h"
        rig boot "$h" /dev/null "${AGENT_CMD[@]}" >/dev/null
    done
}

# The exit trap of a cluster test: on failure (the script's exit status, or
# RC) the tail of every agent's log and of the power log (all of WORK is
# copied to RIG_KEEP if set); then the rig goes down and WORK is removed.
cluster_exit() {
    local rc=${1:-$?} f
    if ((rc != 0)); then
        for f in "$WORK"/rig*/agent*.log "/run/$NODECTL_RIG/power.log"; do
            [[ -f $f ]] && { echo "--- $f (last 25 lines)"; tail -25 "$f"; } >&2
        done
        # RIG_KEEP=DIR keeps every log of a failed run there.
        [[ -n ${RIG_KEEP:-} ]] && mkdir -p "$RIG_KEEP" && cp -r "$WORK" "$RIG_KEEP/" && echo "--- logs kept in $RIG_KEEP" >&2
    fi
    rig down >/dev/null 2>&1 || true
    rm -rf "$WORK"
}

# The command that runs host H's agent, in AGENT_CMD: its output, each line
# prefixed with the time it was written (seconds since the epoch, to the
# microsecond, as journald would stamp it on a real host), appended to the
# host's one agent.log, which then holds every run in order. The stamps put
# the events of all hosts on one clock (the rig's hosts share the machine's).
# The stamper ignores SIGTERM (a power-off) and ends with the agent's output.
agent_command() {
    # shellcheck disable=SC2016 # expanded by that shell, from its arguments
    AGENT_CMD=(/bin/bash -c '"$0" agent -c "$1/nodectl.conf" 2>&1 | { trap "" TERM; while IFS= read -r l; do printf "%s %s\n" "$EPOCHREALTIME" "$l"; done >>"$1/agent.log"; }' \
        "$NODECTL" "$WORK/$1")
}

# The pid of host H's agent, if it runs.
agent_pid() { pgrep -f -- "agent -c $WORK/$1/nodectl.conf" | head -1; }

# Starts host H's agent again (after a kill -9), as its boot does.
agent_restart() {
    agent_command "$1"
    rig spawn "$1" /dev/null "${AGENT_CMD[@]}" >/dev/null
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

# Commands of a term T that took effect although T was over, from the
# agents' logs: "host: line [why]" for each. T is over for an agent
#   - once its log shows a newer term: an election event, a leader learned by
#     gossip, a command it executed, a refusal naming the term it fences with
#     (each log is one agent's own order of events, every run of it: learned
#     terms outlive a restart, as the agent's fence on disk does);
#   - in real time, once a leader of a newer term holds its lease (its "this
#     host leads" event): the lease of T ended before that, and no command
#     of T may take effect after its lease (docs/safety.md). The lines' time
#     stamps (agent_command) put every host on the machine's one clock.
# A command takes effect when the agent logs it ("command ID from ISSUER
# (term T): ACTION") and not its refusal ("command ID refused: ..."); a
# migration, when the source starts it ("migration of VM to URI started",
# or "asked"), unless it ends "refused" or "not started". Real time counts
# from 0.1 s after the lease began: a line is written a moment after what it
# says happened. With T_NEW, only those over because of a term >= T_NEW.
stale_executions() {
    local t_new=${1:-0} h
    for h in "${HOSTS[@]}"; do
        sed "s/^/$h /" "$WORK/$h"/agent*.log 2>/dev/null
    done | awk -v t_new="$t_new" '
        function num(re, skip) { match($0, re); return substr($0, RSTART + skip, RLENGTH - skip) + 0 }
        function word_after(re, skip) { match($0, re); return substr($0, RSTART + skip, RLENGTH - skip) }
        function learn(n) { if (n > known[$1]) known[$1] = n }
        { at = $2 ~ /^[0-9]+[.][0-9]+$/ ? $2 + 0 : 0 }
        /event: term [0-9]+:/ { learn(num("event: term [0-9]+", 12)) }
        /info: term [0-9]+: / { learn(num("info: term [0-9]+", 11)) }
        / in term [0-9]+ \(learned by gossip\)/ { learn(num("in term [0-9]+", 8)) }
        /older than term [0-9]+/ { learn(num("older than term [0-9]+", 16)) }
        /candidate among [0-9]+ voters, term [0-9]+/ { learn(num("term [0-9]+$", 5)) }
        /event: this host leads \(term [0-9]+\)/ {
            n = num("leads [(]term [0-9]+", 12); learn(n)
            if (at && (!(n in led) || at < led[n])) led[n] = at }
        /command [0-9a-f-]+ refused/ { refused[$1 " " word_after("command [0-9a-f-]+", 8)] = 1 }
        /command [0-9a-f-]+ from [^ ]+ \(term [0-9]+\):/ {
            c = num("[(]term [0-9]+[)]", 6)
            k++; host[k] = $1; id[k] = word_after("command [0-9a-f-]+", 8); term[k] = c
            when[k] = at; knew[k] = known[$1]
            line = $0; sub(/^[^ ]+ /, "", line); text[k] = line
            if ($0 ~ /\): migrate [^ ]+ to /) {
                vm = word_after("[)]: migrate [^ ]+", 11); mig[k] = 1; asked[$1 " " vm] = k }
            learn(c) }
        /migration of [^ ]+ to [^ ]+ (started|asked) \(timeout/ {
            vm = word_after("migration of [^ ]+", 13)
            if (($1 " " vm) in asked) {
                i = asked[$1 " " vm]; delete asked[$1 " " vm]
                started[i] = 1; when[i] = at; running[$1 " " vm] = i } }
        /migration of [^ ]+ to [^ ]+ (refused|failed: not started)/ {
            vm = word_after("migration of [^ ]+", 13)
            if (($1 " " vm) in running) { noeffect[running[$1 " " vm]] = 1; delete running[$1 " " vm] } }
        END {
            for (i = 1; i <= k; i++) {
                if ((host[i] " " id[i]) in refused || (mig[i] && (!started[i] || noeffect[i]))) continue
                why = ""
                if (knew[i] > term[i] && knew[i] >= t_new) why = "it knew term " knew[i]
                first = ""
                for (n in led)
                    if (n + 0 > term[i] && n + 0 >= t_new && when[i] > led[n] + 0.1 &&
                        (first == "" || led[n] < led[first]))
                        first = n
                if (first != "")
                    why = why (why ? "; " : "") sprintf("a leader of term %d held its lease %.3f s before%s",
                                                        first, when[i] - led[first],
                                                        mig[i] ? " the migration started" : "")
                if (why) print host[i] ": " text[i] " [" why "]"
            } }'
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

# Network faults on host H's link, as the host's own kernel sees its cable:
# `net_fault H cut` drops every frame in and out of eth0 (a pulled cable:
# sends succeed and vanish, no error reaches the sender), `net_fault H loss
# PCT` drops PCT % of the frames it sends, `net_fault H clear` ends either.
# nftables' netdev hooks on eth0, in the host's network namespace, which the
# rig keeps across a power cycle and deletes at `rig down`.
net_fault() {
    local h=$1 what=$2 rules
    rig exec "$h" nft delete table netdev chaos 2>/dev/null || true
    case $what in
        clear) return 0 ;;
        cut) rules='chain in { type filter hook ingress device "eth0" priority 0; policy drop; }
                    chain out { type filter hook egress device "eth0" priority 0; policy drop; }' ;;
        loss) rules="chain out { type filter hook egress device \"eth0\" priority 0; policy accept;
                     numgen random mod 100 < $3 drop; }" ;;
        *) fail "net_fault: unknown fault '$what'" ;;
    esac
    printf 'table netdev chaos {\n%s\n}\n' "$rules" | rig exec "$h" nft -f - ||
        fail "net_fault $h $what: nft refused the rules"
}

# Guests a power-off killed, from the rig's power log: "HOST: GUEST..." for
# each power-off that stopped a guest's QEMU, in lines FROM (default 1) to TO
# (default the last).
killed_by_power_off() {
    sed -n "${1:-1},${2:-\$}p" "/run/$NODECTL_RIG/power.log" 2>/dev/null |
        sed -n 's/^.* rig: \(rig[0-9]*\): guests killed by the power-off: \(.*\)$/\1: \2/p' |
        grep -v ': none$' || true
}

# The cluster has settled: every powered candidate names the same leader and
# term, the leader holds its lease and its plan has nothing proposed or under
# way, and its view of every host matches the power (alive with a hypervisor
# when on, off when off). Prints "LEADER TERM"; fails with what is missing on
# stderr.
cluster_settled() {
    local h l="" t="" seen out power=""
    for h in "${CANDIDATES[@]}"; do
        [[ $(rig power "$h" status) == on ]] || continue
        seen=$(leader_seen "$h" 2>/dev/null) || seen=""
        [[ -n $seen ]] || { echo "$h sees no leader" >&2; return 1; }
        if [[ -z $l ]]; then read -r l t <<<"$seen"
        elif [[ $seen != "$l $t" ]]; then echo "$h sees $seen, others $l $t" >&2; return 1; fi
    done
    [[ -n $l ]] || { echo "no powered candidate" >&2; return 1; }
    plan_settled "$l" || { echo "the plan of $l (term $t) is not settled" >&2; return 1; }
    for h in "${HOSTS[@]}"; do power+="$h=$(rig power "$h" status) "; done
    out=$(on "$l" status --json) || { echo "$l does not answer" >&2; return 1; }
    python3 - "$out" "$power" <<'PY' || return 1
import json, sys
s = json.loads(sys.argv[1])
power = dict(kv.split("=") for kv in sys.argv[2].split())
bad = []
if not s["lease"]:
    bad.append(f"{s['node']} holds no lease")
members = {m["name"]: m for m in s["members"]}
for h, p in power.items():
    m = members.get(h, {})
    st = m.get("state", "unknown")
    if p == "off" and st != "off":
        bad.append(f"{h} is off but {st} in gossip")
    elif p == "on" and (st != "alive" or not m["hypervisor"]["available"]):
        bad.append(f"{h} is on but {st} in gossip" + ("" if st != "alive" else ", its hypervisor unavailable"))
if bad:
    print("; ".join(bad), file=sys.stderr)
    sys.exit(1)
PY
    printf '%s %s\n' "$l" "$t"
}
