# shellcheck shell=bash
# Sourced by test/rig/test_chaos_rig.sh and bench/chaos_rig.sh, after
# cluster.sh: chaos on a 5-host rig (rig1-rig3 candidates, `auto`, one real
# KVM guest per host, power by the rig's button, Wake-on-LAN, and IPMI for
# rig5). Each round swings the synthetic load between consolidation (1 %:
# rig4 and rig5 emptied and powered off) and spread (90 %: both woken, the
# guests spread out), so the leader always has actions dispatched; one fault
# is injected while it has; then the cluster must settle again (one leader,
# a settled plan, gossip matching the power), and the invariants are checked
# on the hypervisors and in the logs:
#   lost            a guest runs on no powered host (every host's libvirtd);
#   duplicated      a guest runs on two;
#   stale           a command of a term took effect after its agent had
#                   learned a newer term, or after a leader of a newer term
#                   held its lease (the agents' stamped logs, stale_executions);
#   off_with_guest  a power-off killed a guest's QEMU (the rig's power log
#                   names the QEMU processes each power cut stopped).
# Faults (kinds):
#   stop      (a) the leader's agent stopped (SIGSTOP) past its lease, then continued;
#   link      (b) the leader's link cut, then restored;
#   target    (c) a migration's destination's link cut, then restored;
#   loss      (d) 20 % of the frames every host sends dropped (netem, with
#                 delay, where the kernel has it; else nftables) for a while;
#   start     (e) a guest started by hand on a host the leader is powering off;
#   libvirtd  (f) a migration's destination's libvirtd stopped, then started;
#   kill      (g) kill -9 of each new leader, several times in a row, every
#                 agent restarted at once as its host's boot would.
# The seed (bash's RANDOM, drawn only in this shell) chooses the order of the
# faults and every duration and delay. CHAOS_ONLY="kind ..." runs only those
# kinds (e.g. CHAOS_ONLY=libvirtd with bench/chaos_rig.sh N repeats (f)).
# Needs: cluster.sh's variables, SEED.

# shellcheck disable=SC2206 # a list of words
CHAOS_KINDS=(${CHAOS_ONLY:-stop link target loss start libvirtd kill})
declare -A CHAOS_TITLE=(
    [stop]="(a) leader stopped past its lease"
    [link]="(b) leader's link cut"
    [target]="(c) migration target's link cut"
    [loss]="(d) 20% loss on every host"
    [start]="(e) guest started on a host being powered off"
    [libvirtd]="(f) destination's libvirtd stopped mid-migration"
    [kill]="(g) kill -9 of each new leader"
    [swing]="(no fault) a swing before (e)"
)
# How long a round may wait for the leader to dispatch an action, and for the
# cluster to settle after the fault (a spread wakes two hosts and migrates).
CHAOS_TRIGGER_S=${CHAOS_TRIGGER_S:-90}
CHAOS_SETTLE_S=${CHAOS_SETTLE_S:-180}
# Settled means settled for this long: longer than a plan interval (2 s), so
# a new leader's first, still empty plan does not pass for convergence.
CHAOS_STABLE_S=3

# Per kind: runs, violations, settle times; totals; what the rounds found.
declare -A RUNS=() VIOLS=() CONV=() UNSETTLED=()
LOST=0 DUPLICATED=0 STALE=0 OFF_WITH_GUEST=0 FAULTS=0
CONV_ALL=()
FINDINGS=()
PHASE=""
HAND=0
# Guests started by hand whose virsh failed: libvirt refused them (then they
# never ran), or virsh lost its libvirtd to the power-off (then they ran).
declare -A HAND_FAILED=()
STOPPED_PID=""

# RND = an integer in [LO, HI], from the seeded generator. Never inside $( ):
# a subshell's RANDOM is reseeded, which would break the sequence.
rnd() { RND=$(($1 + RANDOM % ($2 - $1 + 1))); }
# MS milliseconds as seconds for sleep(1).
secs() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }
sleep_ms() { sleep "$(secs "$1")"; }
# Seconds from EPOCHREALTIME value $1 to now (or to $2), one decimal.
since() { awk -v a="$1" -v b="${2:-$EPOCHREALTIME}" 'BEGIN { printf "%.1f", b - a }'; }
# Whether S seconds have passed since EPOCHREALTIME value T.
passed() { awk -v t="$1" -v s="$2" -v n="$EPOCHREALTIME" 'BEGIN { exit !(n - t >= s) }'; }

# A Fisher-Yates shuffle of the fault kinds, into ORDER.
shuffle_kinds() {
    local i j t
    ORDER=("${CHAOS_KINDS[@]}")
    for ((i = ${#ORDER[@]} - 1; i > 0; i--)); do
        rnd 0 "$i"
        j=$RND t=${ORDER[i]}
        ORDER[i]=${ORDER[j]} ORDER[j]=$t
    done
}

# The leader and term a powered candidate names: "LEADER TERM".
leader_now() {
    local c seen
    for c in "${CANDIDATES[@]}"; do
        [[ $(rig power "$c" status) == on ]] || continue
        seen=$(leader_seen "$c" 2>/dev/null) || continue
        [[ -n $seen ]] && { printf '%s\n' "$seen"; return 0; }
    done
    return 1
}

# The first action of the leader's plan in state dispatched (or, with
# STATES, one of those states, e.g. "proposed dispatched") whose kind
# matches KIND (a regex), as "KIND VM SOURCE HOST" ("-" for no VM or
# source), or nothing.
plan_action() {
    local leader=$1 kind=$2 states=${3:-dispatched} out
    out=$(on "$leader" plan --json 2>/dev/null) || return 1
    python3 - "$out" "$kind" "$states" <<'PY'
import json, re, sys
p = json.loads(sys.argv[1])
for a in p.get("actions", []):
    if re.fullmatch(sys.argv[2], a["kind"]) and a["state"] in sys.argv[3].split():
        print(a["kind"], a["vm"] or "-", a["source"] or "-", a["host"])
        break
PY
}

# Waits (CHAOS_TRIGGER_S) until the leader has an action of KIND in one of
# STATES; sets LEADER, TERM and ACT_KIND, ACT_VM, ACT_SRC, ACT_DST.
wait_action() {
    local kind=${1:-.*} states=${2:-dispatched} until=$((SECONDS + CHAOS_TRIGGER_S)) act
    while ((SECONDS < until)); do
        if read -r LEADER TERM < <(leader_now) &&
            act=$(plan_action "$LEADER" "$kind" "$states") && [[ -n $act ]]; then
            read -r ACT_KIND ACT_VM ACT_SRC ACT_DST <<<"$act"
            ACT="$ACT_KIND $ACT_DST"
            [[ $ACT_KIND == migrate ]] && ACT="migrate $ACT_VM $ACT_SRC->$ACT_DST"
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# Ends every fault this file can leave behind (also on an early exit): a
# stopped agent continues, no host keeps a network fault.
chaos_cleanup() {
    local h
    [[ -n $STOPPED_PID ]] && kill -CONT "$STOPPED_PID" 2>/dev/null
    STOPPED_PID=""
    for h in "${HOSTS[@]}"; do
        rig exec "$h" tc qdisc del dev eth0 root 2>/dev/null || true
        net_fault "$h" clear
    done
}

# ---------------------------------------------------------------------------
# The faults. Each waits for its moment, injects, undoes, and says what it
# did in FAULT_NOTE; it returns 1 if its moment never came.

# Functions an agent calls to send a leader's command, right after its
# lease check: a pause there is the one no random instant is likely to hit
# (the issue's first defect). The first one the binary has is used (a
# Release build may have inlined them all).
CHAOS_SEND_SYMBOLS=${CHAOS_SEND_SYMBOLS:-agent_command_issue send_fenced}

# The first of CHAOS_SEND_SYMBOLS that executable EXE has, or nothing.
send_symbol() {
    local s
    command -v gdb >/dev/null || return 0
    for s in $CHAOS_SEND_SYMBOLS; do
        if gdb -nx -batch --readnever -ex "file $1" -ex "info address $s" 2>/dev/null |
            grep -Eq "is (a function|at)"; then
            printf '%s\n' "$s"
            return 0
        fi
    done
}

# Stops process PID for MS milliseconds at its next call of function SYM (a
# breakpoint, through gdb), if that comes within WAIT_S seconds; prints
# SYM if so, else nothing (then PID was stopped only for moments).
# Only the executable's symbol table is read (--readnever), and before
# attaching, so that the attach stops the agent for tens of milliseconds,
# well within its lease (with the debug information, a second or more: the
# attach alone would depose the leader). No signal the agent handles is
# used: gdb's interrupt sends SIGINT, which the agent takes as "stop"; a
# SIGSTOP ends the wait instead, and a SIGCONT follows whatever happened.
pause_at_send() {
    local pid=$1 sym=$2 ms=$3 wait_s=$4 exe gdb_pid i
    exe=$(readlink "/proc/$pid/exe") || return 0
    cat >"$WORK/pause.gdb" <<GDB
set pagination off
set confirm off
set auto-solib-add off
handle SIGSTOP stop print nopass
file $exe
break $sym
attach $pid
continue
if \$_siginfo.si_signo == 5
  shell sleep $(secs "$ms")
  echo chaos: paused at $sym\n
end
delete
detach
quit
GDB
    gdb -nx -batch --readnever -x "$WORK/pause.gdb" >"$WORK/pause.out" 2>&1 &
    gdb_pid=$!
    for ((i = 0; i < wait_s * 10; i++)); do
        kill -0 "$gdb_pid" 2>/dev/null || break
        grep -q "hit Breakpoint 1" "$WORK/pause.out" && break
        sleep 0.1
    done
    grep -q "hit Breakpoint 1" "$WORK/pause.out" || kill -STOP "$pid" 2>/dev/null || true
    # gdb detaches on its own; a gdb that does not is let go (it detaches as it exits).
    timeout -k 5 "$((ms / 1000 + 20))" tail --pid="$gdb_pid" -f /dev/null || kill -TERM "$gdb_pid" 2>/dev/null || true
    wait "$gdb_pid" 2>/dev/null || true
    kill -CONT "$pid" 2>/dev/null || true
    grep -q "^chaos: paused at $sym" "$WORK/pause.out" && printf '%s\n' "$sym"
    return 0
}

# The leader stopped for longer than its lease, then continued: at a random
# instant while it has an action dispatched (SIGSTOP, SIGCONT), or, as the
# seed chooses, at its next send of a command, right after its lease check,
# while it has an action still to send (pause_at_send, when the binary has
# a send function's symbol; a plain stop when no send comes within 10 s).
# CHAOS_STOP_AT=send or =random overrides the seed's choice.
fault_stop() {
    local pid at="" ms sym
    rnd 1500 5000
    ms=$RND
    rnd 0 1
    case ${CHAOS_STOP_AT:-} in send) RND=1 ;; random) RND=0 ;; esac
    sym=""
    ((RND)) && sym=$(send_symbol "$NODECTL")
    if [[ -n $sym ]]; then
        wait_action '.*' proposed || return 1
    else
        wait_action || return 1
    fi
    pid=$(agent_pid "$LEADER")
    [[ -n $pid ]] || return 1
    if [[ -n $sym ]]; then
        at=$(pause_at_send "$pid" "$sym" "$ms" 10)
        if [[ -n $at ]]; then
            FAULT_NOTE="stopped $LEADER (term $TERM; $ACT proposed) at its next call of $at for $ms ms"
            return 0
        fi
        note "no call of $sym by $LEADER within 10 s: a stop at a random instant instead"
    fi
    STOPPED_PID=$pid
    kill -STOP "$pid"
    sleep_ms "$ms"
    kill -CONT "$pid"
    STOPPED_PID=""
    FAULT_NOTE="stopped $LEADER (term $TERM; $ACT dispatched) for $ms ms"
}

fault_link() {
    wait_action || return 1
    rnd 2000 6000
    net_fault "$LEADER" cut
    sleep_ms "$RND"
    net_fault "$LEADER" clear
    FAULT_NOTE="cut the link of $LEADER (term $TERM; $ACT dispatched) for $RND ms"
}

fault_target() {
    wait_action migrate || return 1
    rnd 2000 6000
    net_fault "$ACT_DST" cut
    sleep_ms "$RND"
    net_fault "$ACT_DST" clear
    FAULT_NOTE="cut the link of $ACT_DST, destination of $ACT_VM from $ACT_SRC (leader $LEADER, term $TERM), for $RND ms"
}

fault_loss() {
    local h how
    wait_action || return 1
    rnd 6000 12000
    # netem where the kernel has it (loss and delay); else nftables (loss only).
    if rig exec "${HOSTS[0]}" tc qdisc add dev eth0 root netem loss 20% delay 20ms 10ms 2>/dev/null; then
        how="netem: 20% loss, delay 20+-10 ms"
        for h in "${HOSTS[@]:1}"; do
            rig exec "$h" tc qdisc add dev eth0 root netem loss 20% delay 20ms 10ms
        done
    else
        how="nftables: 20% of sent frames dropped (no netem in this kernel: no delay)"
        for h in "${HOSTS[@]}"; do net_fault "$h" loss 20; done
    fi
    sleep_ms "$RND"
    chaos_cleanup
    FAULT_NOTE="$how on every host for $RND ms (leader $LEADER, term $TERM; $ACT dispatched)"
}

# A guest created by hand (transient, as `virsh create` makes it) on host H
# from the rig's guest XML under a new name, which joins GUESTS. Prints
# virsh's answer; fails if virsh refused.
hand_guest() {
    local h=$1 name=$2
    sed -e "s|<name>.*</name>|<name>$name</name>|" -e '/<uuid>/d' \
        "/run/$NODECTL_RIG/rig1/guests/rig1-vm1.xml" >"$WORK/$name.xml"
    rig exec "$h" virsh -q -c qemu:///system create "$WORK/$name.xml" 2>&1
}

fault_start() {
    local h name until out
    # The leader's plan to power a host off; the moment is when that host has
    # just been emptied, which is when the leader dispatches its power-off.
    wait_action power-off "proposed dispatched" || return 1
    h=$ACT_DST
    HAND=$((HAND + 1))
    name=hand$HAND
    until=$((SECONDS + 20))
    while ((SECONDS < until)) && [[ $(rig power "$h" status) == on ]] &&
        [[ -n $(rig exec "$h" virsh -q -c qemu:///system list --name 2>/dev/null) ]]; do
        sleep 0.05
    done
    rnd 0 1000
    sleep_ms "$RND"
    if [[ $(rig power "$h" status) != on ]]; then
        FAULT_NOTE="missed: $h was already off when $name was to start"
        return 0
    fi
    GUESTS+=("$name")
    if out=$(hand_guest "$h" "$name"); then
        FAULT_NOTE="started $name by hand on $h at $(date -u +%T.%3N) (virsh create returned), $RND ms after $h was emptied (leader $LEADER, term $TERM, power-off $h planned)"
    else
        # Refused, or virsh (inside the host) or its libvirtd was stopped by
        # the power-off: the power log says whether the guest ran.
        HAND_FAILED[$name]=1
        FAULT_NOTE="virsh create of $name on $h, $RND ms after $h was emptied, failed: $(tr '\n' ' ' <<<"$out")"
    fi
}

# Arms the stop of the libvirtd of the first powered host that enters
# libvirt's Finish of an incoming migration (a gdb breakpoint on
# qemuMigrationDstFinish, exported by the QEMU driver, in every powered
# host's libvirtd at once), before the load swings: on a loaded machine the
# attach takes seconds, a migration two. The daemon goes while Finish
# resumes the guest, whose answer then never reaches the source, which
# resumes its own copy (the window a stop at a random instant rarely hits).
finish_arm() {
    local h pid i
    FINISH_GDBS=() FINISH_PIDS=() FINISH_HOSTS=()
    command -v gdb >/dev/null || return 0
    for h in $(powered_hosts); do
        pid=$(cat "/run/$NODECTL_RIG/$h/libvirtd.pid" 2>/dev/null) || continue
        kill -0 "$pid" 2>/dev/null || continue
        cat >"$WORK/finish.$h.gdb" <<GDB
set pagination off
set confirm off
set auto-solib-add off
handle SIGTERM nostop noprint pass
handle SIGPIPE nostop noprint pass
handle SIGSTOP stop print nopass
attach $pid
sharedlibrary libvirt_driver_qemu
break qemuMigrationDstFinish
continue
if \$_siginfo.si_signo == 5
  shell kill -TERM $pid
  echo chaos: libvirtd stopped in Finish\n
end
delete
detach
quit
GDB
        gdb -nx -batch --readnever -x "$WORK/finish.$h.gdb" >"$WORK/finish.$h.out" 2>&1 &
        FINISH_GDBS+=("$!") FINISH_PIDS+=("$pid") FINISH_HOSTS+=("$h")
    done
    # Attached (or failed) before the load swings.
    for h in "${FINISH_HOSTS[@]}"; do
        for ((i = 0; i < 300; i++)); do
            grep -q "^Breakpoint 1 at\|Error\|No such process" "$WORK/finish.$h.out" && break
            sleep 0.1
        done
    done
}

# Waits up to WAIT_S seconds for an armed breakpoint (finish_arm) to stop a
# libvirtd in Finish, then lets the others go. Sets FINISH_HOST to that
# host and returns 0, or returns 1 (nothing stopped).
stop_libvirtd_in_finish() {
    local wait_s=$1 h i gdbs=("${FINISH_GDBS[@]}") pids=("${FINISH_PIDS[@]}") hosts=("${FINISH_HOSTS[@]}")
    FINISH_HOST=""
    ((${#gdbs[@]})) || return 1
    for ((i = 0; i < wait_s * 10; i++)); do
        for h in "${hosts[@]}"; do
            grep -q "^chaos: libvirtd stopped in Finish" "$WORK/finish.$h.out" && FINISH_HOST=$h
        done
        [[ -n $FINISH_HOST ]] && break
        sleep 0.1
    done
    # The others: a SIGSTOP ends gdb's wait (not SIGINT, which libvirtd
    # takes as "quit"), it detaches, and libvirtd continues.
    for i in "${!gdbs[@]}"; do
        [[ ${hosts[i]} == "$FINISH_HOST" ]] && continue
        kill -0 "${gdbs[i]}" 2>/dev/null && kill -STOP "${pids[i]}" 2>/dev/null
    done
    for i in "${!gdbs[@]}"; do
        timeout -k 5 20 tail --pid="${gdbs[i]}" -f /dev/null || kill -TERM "${gdbs[i]}" 2>/dev/null || true
        wait "${gdbs[i]}" 2>/dev/null || true
        [[ ${hosts[i]} == "$FINISH_HOST" ]] || kill -CONT "${pids[i]}" 2>/dev/null || true
    done
    [[ -n $FINISH_HOST ]]
}

# The destination's libvirtd stopped mid-migration: once the incoming guest
# is defined there, or, with CHAOS_LIBVIRTD_AT=finish, in libvirt's Finish
# of whichever migration into a powered host comes first
# (stop_libvirtd_in_finish).
fault_libvirtd() {
    local d until seen=no at=""
    if [[ ${CHAOS_LIBVIRTD_AT:-} == finish ]]; then
        read -r LEADER TERM < <(leader_now) || return 1
        rnd 2000 6000
        stop_libvirtd_in_finish 60 || return 1
        d=$FINISH_HOST ACT_VM="a guest" ACT_SRC="its source"
        at="in libvirt's Finish of the migration"
    else
        wait_action migrate || return 1
        d=$ACT_DST
        # Mid-migration: the incoming guest is defined on the destination.
        until=$((SECONDS + 5))
        while ((SECONDS < until)); do
            if rig exec "$d" virsh -q -c qemu:///system list --all --name 2>/dev/null | grep -qx "$ACT_VM"; then
                seen=yes
                break
            fi
            sleep 0.05
        done
        rnd 2000 6000
        at="incoming guest seen there: $seen"
    fi
    rig libvirtd "$d" stop 2>/dev/null || true
    sleep_ms "$RND"
    rig libvirtd "$d" start 2>/dev/null || fail "libvirtd did not start again on $d"
    FAULT_NOTE="stopped libvirtd on $d, destination of $ACT_VM from $ACT_SRC (leader $LEADER, term $TERM; $at), for $RND ms"
}

fault_kill() {
    local kills k pid last until c st note=""
    wait_action || return 1
    rnd 3 4
    kills=$RND
    for ((k = 1; k <= kills; k++)); do
        pid=$(agent_pid "$LEADER")
        [[ -n $pid ]] || break
        kill -9 "$pid"
        agent_restart "$LEADER"
        note+="${note:+, }$LEADER (term $TERM)"
        last=$TERM
        ((k < kills)) || break
        # The next leader: a candidate holding its lease in a newer term.
        LEADER="" until=$((SECONDS + 30))
        while [[ -z $LEADER ]] && ((SECONDS < until)); do
            for c in "${CANDIDATES[@]}"; do
                st=$(status_field "$c" '"%d %d" % (s["lease"], s["term"])' 2>/dev/null) || continue
                if [[ $st =~ ^1\ ([0-9]+)$ ]] && ((BASH_REMATCH[1] > last)); then
                    LEADER=$c TERM=${BASH_REMATCH[1]}
                    break
                fi
            done
            [[ -n $LEADER ]] || sleep 0.1
        done
        [[ -n $LEADER ]] || { note+="; no new leader within 30 s"; break; }
        rnd 0 1500
        sleep_ms "$RND"
    done
    FAULT_NOTE="kill -9 of $note, each restarted at once"
}

# ---------------------------------------------------------------------------
# Rounds

# Waits until the cluster has settled for CHAOS_STABLE_S; sets SETTLE_S (from
# FAULT_END) and SETTLED ("LEADER TERM"), or fails with the reason in WHY.
wait_settled() {
    local until=$((SECONDS + $1)) t1="" l1="" cur
    WHY=""
    while ((SECONDS < until)); do
        if cur=$(cluster_settled 2>"$WORK/why"); then
            if [[ -z $t1 || $cur != "$l1" ]]; then
                t1=$EPOCHREALTIME l1=$cur
            elif passed "$t1" "$CHAOS_STABLE_S"; then
                SETTLE_S=$(since "$FAULT_END" "$t1")
                SETTLED=$cur
                return 0
            fi
        else
            t1=""
            WHY=$(cat "$WORK/why")
        fi
        sleep 0.5
    done
    return 1
}

# The load of a phase: 1 % consolidates, 90 % spreads.
phase_load() { [[ $1 == consolidated ]] && echo 1 || echo 90; }

# Whether the power follows PHASE: rig4 and rig5 off when consolidated, on
# when spread.
phase_reached() {
    local want=off h
    [[ $1 == spread ]] && want=on
    for h in rig4 rig5; do [[ $(rig power "$h" status) == "$want" ]] || return 1; done
}

# A swing without a fault before round R, to reach PHASE (the start fault
# needs a consolidation to interrupt); checked like a round.
swing_to() {
    load "$(phase_load "$1")"
    FAULT_END=$EPOCHREALTIME
    eventually "$CHAOS_SETTLE_S" phase_reached "$1" || fail "the load swung to $1, the power did not follow"
    wait_settled "$CHAOS_SETTLE_S" || fail "no settled cluster after swinging to $1: $WHY"
    PHASE=$1
    RUNS[swing]=$((${RUNS[swing]:-0} + 1))
    check_round "$2" swing
}

# Brings the cluster up and waits for the first consolidation.
chaos_setup() {
    # shellcheck disable=SC2034 # read by cluster_up
    IPMI_HOSTS=(rig5)
    cluster_up 5 1 rig1 rig2 rig3
    FAULT_END=$EPOCHREALTIME
    eventually 120 phase_reached consolidated || fail "rig4 and rig5 were not powered off at 1 % load"
    wait_settled "$CHAOS_SETTLE_S" || fail "the cluster did not settle after it started: $WHY"
    PHASE=consolidated
    note "cluster up, settled under $SETTLED after $(since "$FAULT_END") s"
    # The start counts too: a stale command or a guest lost before any fault.
    : >"$WORK/stale.seen"
    POWER_FROM=1
    : >"$WORK/before"
    check_round 0 setup
}

# Records one finding (its first line says what, the others show the
# evidence): prints it and keeps it for the summary.
finding() {
    local f
    f=$(grep . <<<"$1")
    FINDINGS+=("$f")
    printf '  VIOLATION %s\n' "$f" | sed '2,$s/^/    /' >&2
}

# The lines of the agents' logs (and the leader's events) that mention WORD,
# the last few, for a finding's evidence.
evidence() {
    local word=$1 h
    for h in "${HOSTS[@]}"; do
        grep -F -- "$word" "$WORK/$h/agent.log" 2>/dev/null | tail -3 | sed "s/^/$h: /"
    done
    events_about "$word"
}

# The last events of each candidate (its own plans and dispatches, when it
# led) that mention WORD.
events_about() {
    local c
    for c in "${CANDIDATES[@]}"; do
        on "$c" events 2>/dev/null | grep -F -- "$1" | tail -3 | sed "s/^/events of $c: /"
    done
    return 0
}

# Checks the invariants after round R's fault (or a swing, or the setup),
# counts and repairs. Each check reads the power log from where the last one
# stopped, so that no power-off goes unchecked.
check_round() {
    local r=$1 kind=$2 n=0 what vm rest h line off power_to
    power_to=$(wc -l <"/run/$NODECTL_RIG/power.log")
    exactly_once >"$WORK/placement" 2>"$WORK/check" || true
    while read -r what vm rest; do
        case $what in
            lost:)
                # A guest libvirt refused to start is not lost: it never ran.
                [[ -n ${HAND_FAILED[$vm]:-} ]] &&
                    ! killed_by_power_off "$POWER_FROM" "$power_to" | grep -qw -- "$vm" && continue
                LOST=$((LOST + 1)) n=$((n + 1))
                finding "round $r $kind: lost: $vm runs nowhere (before the round: $(grep "^$vm " "$WORK/before" | cut -d' ' -f2)); defined on: $(defined_on "$vm")
$(evidence "$vm")"
                ;;
            duplicated:)
                DUPLICATED=$((DUPLICATED + 1)) n=$((n + 1))
                finding "round $r $kind: duplicated: $vm $rest
$(evidence "$vm")"
                ;;
        esac
    done <"$WORK/check"
    stale_executions | sort >"$WORK/stale.now"
    while read -r line; do
        STALE=$((STALE + 1)) n=$((n + 1))
        finding "round $r $kind: stale: $line"
    done < <(comm -13 "$WORK/stale.seen" "$WORK/stale.now")
    cp "$WORK/stale.now" "$WORK/stale.seen"
    while read -r off; do
        h=${off%%:*}
        OFF_WITH_GUEST=$((OFF_WITH_GUEST + 1)) n=$((n + 1))
        finding "round $r $kind: off_with_guest: $off
$(sed -n "$POWER_FROM,${power_to}p" "/run/$NODECTL_RIG/power.log" | grep -F "$h: " | grep -v 'boot command' |
    sed 's/^/power.log: /')
$(power_off_evidence "$h")"
    done < <(killed_by_power_off "$POWER_FROM" "$power_to")
    POWER_FROM=$((power_to + 1))
    VIOLS[$kind]=$((${VIOLS[$kind]:-0} + n))
    repair
}

# What host H's agent logged from the last power-off command it took on,
# and what the leader's events say about powering H off.
power_off_evidence() {
    local h=$1 n
    n=$(grep -n 'power off$' "$WORK/$h/agent.log" | tail -1 | cut -d: -f1)
    [[ -n $n ]] && tail -n +"$n" "$WORK/$h/agent.log" | grep -E 'command|power|off' | head -4 |
        sed "s/^/$h: /"
    events_about "power-off $h"
}

# The powered hosts where VM is defined (running or not).
defined_on() {
    local h out=""
    for h in $(powered_hosts); do
        rig exec "$h" virsh -q -c qemu:///system list --all --name 2>/dev/null | grep -qx "$1" && out+="$h "
    done
    printf '%s' "${out:-nowhere}"
}

# Puts the guests back as they were meant to be, so that a violation is
# counted in the round that caused it, not again in every later one: a lost
# guest is started again (where libvirt still defines it, else on rig1 from
# the rig's XML), a duplicate keeps only its first copy, and the guests
# started by hand are removed.
repair() {
    local what vm rest h on_hosts keep=() g
    while read -r what vm rest; do
        [[ $vm == hand* ]] && continue
        case $what in
            lost:)
                h=$(defined_on "$vm")
                h=${h%% *}
                if [[ $h == nowhere ]]; then
                    h=rig1
                    rig exec rig1 virsh -q -c qemu:///system define \
                        "/run/$NODECTL_RIG/${vm%-vm*}/guests/$vm.xml" >/dev/null || true
                fi
                rig exec "$h" virsh -q -c qemu:///system start "$vm" >/dev/null 2>&1 || true
                ;;
            duplicated:)
                on_hosts=${rest#runs on }
                on_hosts=${on_hosts#*,}
                for h in ${on_hosts//,/ }; do
                    rig exec "$h" virsh -q -c qemu:///system destroy "$vm" >/dev/null 2>&1 || true
                done
                ;;
        esac
    done <"$WORK/check"
    for g in "${GUESTS[@]}"; do
        if [[ $g == hand* ]]; then
            for h in $(powered_hosts); do
                rig exec "$h" virsh -q -c qemu:///system destroy "$g" >/dev/null 2>&1 || true
                rig exec "$h" virsh -q -c qemu:///system undefine "$g" >/dev/null 2>&1 || true
            done
        else
            keep+=("$g")
        fi
    done
    GUESTS=("${keep[@]}")
}

# One round: swing the load, inject fault KIND while the leader has actions
# dispatched, wait for the cluster to settle, check. Returns 1 if the fault
# found no moment or the cluster did not settle.
chaos_round() {
    local r=$1 kind=$2 target rc=0
    target=consolidated
    if [[ $kind == start ]]; then
        [[ $PHASE == consolidated ]] && swing_to spread "$r"
    elif [[ $PHASE == consolidated ]]; then
        target=spread
    fi
    exactly_once >"$WORK/before" 2>/dev/null || true
    FAULT_NOTE=""
    [[ $kind == libvirtd && ${CHAOS_LIBVIRTD_AT:-} == finish ]] && finish_arm
    load "$(phase_load "$target")"
    if ! "fault_$kind"; then
        note "round $r ${CHAOS_TITLE[$kind]}: no action dispatched within ${CHAOS_TRIGGER_S} s; no fault"
        # The load has swung all the same: the next round swings back.
        FAULT_END=$EPOCHREALTIME
        wait_settled "$CHAOS_SETTLE_S" || true
        PHASE=$target
        return 1
    fi
    FAULT_END=$EPOCHREALTIME
    FAULTS=$((FAULTS + 1))
    RUNS[$kind]=$((${RUNS[$kind]:-0} + 1))
    note "round $r ${CHAOS_TITLE[$kind]} ($PHASE -> $target): $FAULT_NOTE"
    if wait_settled "$CHAOS_SETTLE_S"; then
        CONV[$kind]="${CONV[$kind]:-} $SETTLE_S"
        CONV_ALL+=("$SETTLE_S")
        note "round $r: settled under $SETTLED after $SETTLE_S s"
    else
        UNSETTLED[$kind]=$((${UNSETTLED[$kind]:-0} + 1))
        finding "round $r $kind: not settled within $CHAOS_SETTLE_S s after the fault: $WHY"
        rc=1
    fi
    PHASE=$target
    check_round "$r" "$kind"
    return "$rc"
}

# p50 and max of the numbers given: "P50 MAX", or "NA NA".
p50_max() {
    printf '%s\n' "$@" | grep . | sort -g | awk '{ v[NR] = $1 } END {
        if (!NR) { print "NA NA"; exit } print v[int((NR + 1) / 2)], v[NR] }'
}

# The per-kind table and the summary line.
chaos_report() {
    local k p m
    printf '\n%-50s %5s %10s %10s %9s %9s\n' fault runs violations unsettled conv_p50 conv_max
    for k in "${CHAOS_KINDS[@]}" swing; do
        [[ $k != swing || -n ${RUNS[swing]:-} ]] || continue
        # shellcheck disable=SC2086 # the list of times, one word each
        read -r p m < <(p50_max ${CONV[$k]:-})
        printf '%-50s %5d %10d %10d %9s %9s\n' "${CHAOS_TITLE[$k]}" "${RUNS[$k]:-0}" \
            "${VIOLS[$k]:-0}" "${UNSETTLED[$k]:-0}" "$p" "$m"
    done
    read -r p m < <(p50_max "${CONV_ALL[@]}")
    printf 'chaos: %d faults; lost: %d duplicated: %d stale: %d off_with_guest: %d; convergence p50=%s max=%s\n' \
        "$FAULTS" "$LOST" "$DUPLICATED" "$STALE" "$OFF_WITH_GUEST" "$p" "$m"
}
