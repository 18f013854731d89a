#!/bin/sh
# Real agents on loopback at growing cluster sizes: for each N given
# (default 20 80 100 150), start N agents (libvirt's test driver, hosts 1-3
# candidates, the default timings, certificates from a CA as on real hosts,
# each on an address of its own in 127.0.0.0/8 as hosts have: on one address
# the transport's limit of 32 unauthenticated connections per address cuts
# the connections of a cluster joining at once) and print
#   join_s       time until the last agent started sees all N alive: when its
#                own log (JSON, with milliseconds) shows it applying the change
#                that made every member alive in its table, the members'
#                transitions replayed in order
#   poll_s       time until `nodectl members` run by this script first answered
#                all N alive: join_s plus the time a client takes on the loaded
#                machine (to start, and for the agent's loop to come round)
#   cpu_pct      CPU per agent at rest (mean over the REST_S seconds as they
#                ran, % of a core)
#   rss_mib      resident memory per agent at rest (mean)
#                (and, on a line of its own, the CPU all agents used until
#                full membership)
#   suspect      false suspicions at rest: "-> suspect" lines logged by all
#                agents during the rest window (nobody failed then)
#   health_max   the highest local health score an agent reports at rest
#   frames_s     frames the last agent accepted per second at rest (followed
#                by a line of its frames by channel and gossip packets by
#                kind, sent and received, per second)
#   status_ms    `nodectl status` latency on a non-candidate (median of 5)
#   leader_s     after kill -9 of the leader: until a non-candidate (the last
#                agent) names another leader, from its log as join_s is
#   dead_s       until that non-candidate shows the killed leader dead (from
#                its log; both as its `nodectl status` and `nodectl members`
#                first showed them on a line of their own)
# Builds a Release tree of its own (build-bench). Needs no root.
#   bench/agents_scale.sh [N...]     env: REST_S (20), SETTLE_S (10), BASE_PORT (33000),
#     NODECTL (a binary to run instead of building one: side-by-side runs of two versions),
#     PERF_DIR (record the last agent with perf during the rest window, report in that dir),
#     KEEP_DIR (keep every agent's log and the candidates' status at the end of the rest
#     window there, in nN/)
set -eu
cd "$(dirname "$0")/.."
ROOT=$PWD
REST_S=${REST_S:-20}
SETTLE_S=${SETTLE_S:-10}
# Above the ports the tests take (test_port_base: 20000-32019).
BASE_PORT=${BASE_PORT:-33000}
[ $# -gt 0 ] || set -- 20 80 100 150
if [ -z "${NODECTL:-}" ]; then
    cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build-bench -j2 --target nodectl >/dev/null
    NODECTL=$ROOT/build-bench/src/nodectl
fi
PERF_DIR=${PERF_DIR:-}
KEEP_DIR=${KEEP_DIR:-}
HZ=$(getconf CLK_TCK)

work=$(mktemp -d /tmp/agents_scale.XXXXXX)
pids=""
# SIGTERM to all, then SIGKILL to those still running after 10 s.
stop_all() {
    for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
    n=0
    while [ $n -lt 100 ]; do
        left=0
        for p in $pids; do kill -0 "$p" 2>/dev/null && left=$((left + 1)); done
        [ $left -eq 0 ] && break
        sleep 0.1
        n=$((n + 1))
    done
    [ $n -lt 100 ] || echo "  ($left agents still running 10 s after SIGTERM: killed)" >&2
    for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
    pids=""
}
trap 'stop_all; rm -rf "$work"' EXIT INT TERM

now() { date +%s.%N; }
elapsed() { echo "$1 $2" | awk '{printf "%.2f", $2 - $1}'; }
# Sum of utime + stime (clock ticks) of the given pids, read by one process:
# a process per pid takes seconds on a machine that 150 agents saturate,
# and the sum then counts CPU used long after the moment it should.
ticks() {
    files=""
    for p in "$@"; do files="$files /proc/$p/stat"; done
    # shellcheck disable=SC2086
    cat $files 2>/dev/null | awk '{s += $14 + $15} END {print s}'
}
rss_kib() {
    for p in "$@"; do awk '/^VmRSS/ {print $2}' "/proc/$p/status"; done | awk '{s += $1} END {print s}'
}
suspicions() {
    cat "$1"/host*/agent.log | grep -c -- '-> suspect' || true
}
# jq: a JSON log line's time in seconds since the epoch, milliseconds kept.
JQ_AT='def at: (.time[0:19] + "Z" | fromdateiso8601) + (.time[19:23] | tonumber);'
# Seconds from $2 (epoch) until the first line of log $1 after it whose
# message passes the jq test $3 ("none" if none does).
log_since() {
    jq -r --argjson t "$2" "$JQ_AT"' at as $at
        | select($at >= $t) | select(.message | '"$3"') | $at - $t' "$1" |
        awk 'NR == 1 { printf "%.2f", $1; f = 1 } END { if (!f) printf "none" }'
}
# Seconds from $3 (epoch) until host$2's log shows all $2 members alive:
# every agent's log names its own gossip id ("gossip on ... as ID"), which
# the last agent's log uses for members whose record it has not yet.
log_join() {
    {
        for f in "$1"/host*/agent.log; do
            h=${f%/agent.log}
            jq -r --arg h "${h##*/}" 'select(.message | test("^gossip on .* as "))
                | "id \($h) \(.message | capture(" as (?<i>[0-9a-f]+)").i)"' "$f"
        done
        jq -r "$JQ_AT"' select(.message | test("^member ")) | "ev \(at) \(.message)"' \
            "$1/host$2/agent.log"
    } | awk -v n="$2" -v t0="$3" '
        $1 == "id" { id[$2] = $3; next }
        $5 == "forgotten:" || $5 == "still" { next }
        {
            name = $4; sub(/:$/, "", name)
            key = (name in id) ? id[name] : name
            if (st[key] == "alive") alive--
            st[key] = $7
            if ($7 == "alive") alive++
            if (alive + 1 == n) { printf "%.2f", $2 - t0; found = 1; exit }
        }
        END { if (!found) printf "timeout" }'
}
members_json() { "$NODECTL" -c "$1/nodectl.conf" -t 2000 members --json 2>/dev/null || echo '[]'; }
status_json() { "$NODECTL" -c "$1/nodectl.conf" -t 2000 status --json 2>/dev/null || echo '{}'; }

"$NODECTL" keygen "$work/cluster.key" >/dev/null
"$NODECTL" ca init "$work/ca" >/dev/null 2>&1

printf '%5s %7s %7s %8s %8s %8s %10s %8s %10s %9s %7s\n' N join_s poll_s cpu_pct rss_mib suspect health_max frames_s status_ms leader_s dead_s
for N in "$@"; do
    run=$work/n$N
    mkdir -p "$run"
    seeds="127.0.1.1:$((BASE_PORT + 1)), 127.0.1.2:$((BASE_PORT + 2)), 127.0.1.3:$((BASE_PORT + 3))"
    i=1
    while [ "$i" -le "$N" ]; do
        h=host$i
        d=$run/$h
        mkdir -p "$d"
        cat >"$d/hypervisor.xml" <<XML
<node>
  <cpu><mhz>2600</mhz><model>x86_64</model><active>8</active><nodes>1</nodes>
       <sockets>1</sockets><cores>8</cores><threads>1</threads></cpu>
  <memory>16777216</memory>
  <domain type="test"><name>$h-web</name><uuid>$(cat /proc/sys/kernel/random/uuid)</uuid>
    <memory>2097152</memory><currentMemory>2097152</currentMemory><vcpu>2</vcpu><os><type>hvm</type></os></domain>
</node>
XML
        pk=$("$NODECTL" identity init --key "$d/host.key" 2>/dev/null)
        cand=""
        [ "$i" -le 3 ] && cand=--candidate
        "$NODECTL" ca sign --ca "$work/ca" $cand -o "$d/host.cert" "$h" "$pk" 2>/dev/null
        cat >"$d/nodectl.conf" <<CONF
[cluster]
name = scale$N
seeds = $seeds
candidates = host1, host2, host3
key_file = $work/cluster.key
keyring_file = $d/keyring
ca_file = $work/ca/ca.pub
cert_file = $d/host.cert
host_key_file = $d/host.key
discovery = false

[node]
name = $h
bind_address = 127.0.$((1 + i / 250)).$((i % 250))
port = $((BASE_PORT + i))
state_dir = $d/state
control_socket = $d/nodectl.sock
log_format = json

[hypervisor]
uri = test://$d/hypervisor.xml
CONF
        i=$((i + 1))
    done
    t0=$(now)
    i=1
    while [ "$i" -le "$N" ]; do
        "$NODECTL" agent -c "$run/host$i/nodectl.conf" >"$run/host$i/agent.log" 2>&1 &
        pids="$pids $!"
        i=$((i + 1))
    done
    # Full membership: the last agent started sees every one alive.
    last=$run/host$N
    join=timeout
    while [ "$(elapsed "$t0" "$(now)" | cut -d. -f1)" -lt 120 ]; do
        alive=$(members_json "$last" | jq '[.[] | select(.state == "alive")] | length')
        if [ "$alive" = "$N" ]; then
            join=$(elapsed "$t0" "$(now)")
            break
        fi
        sleep 0.2
    done
    # shellcheck disable=SC2086
    join_cpu=$(echo "$(ticks $pids) $HZ" | awk '{printf "%.1f", $1 / $2}')
    join_cpu_at=$(elapsed "$t0" "$(now)")
    join_susp=$(suspicions "$run")
    sleep "$SETTLE_S"
    # At rest.
    s0=$(suspicions "$run")
    # shellcheck disable=SC2086
    c0=$(ticks $pids)
    # shellcheck disable=SC2086
    k0=$(ticks $(echo $pids | cut -d' ' -f1-3))
    r0=$(now)
    status_json "$run/host$N" >"$run/status0.json"
    f0=$(jq '.frames.accepted // 0' "$run/status0.json")
    if [ -n "$PERF_DIR" ]; then
        mkdir -p "$PERF_DIR"
        perf record -q -g -o "$PERF_DIR/perf-n$N.data" -p "$(echo $pids | awk '{print $NF}')" \
            -- sleep "$REST_S" >/dev/null 2>&1 || echo "  (perf record failed)" >&2
    else
        sleep "$REST_S"
    fi
    # shellcheck disable=SC2086
    c1=$(ticks $pids)
    # shellcheck disable=SC2086
    k1=$(ticks $(echo $pids | cut -d' ' -f1-3))
    # The window as it ran: on a saturated machine perf and the status
    # calls around the sleep take seconds of their own.
    rest=$(elapsed "$r0" "$(now)")
    status_json "$run/host$N" >"$run/status1.json"
    for k in 1 2 3; do status_json "$run/host$k" >"$run/host$k/status1.json"; done
    f1=$(jq '.frames.accepted // 0' "$run/status1.json")
    fps=$(echo "$f0 $f1 $rest" | awk '{printf "%.1f", ($2 - $1) / $3}')
    s1=$(suspicions "$run")
    # shellcheck disable=SC2086
    cpu=$(echo "$c0 $c1 $HZ $rest $N" | awk '{printf "%.2f", ($2 - $1) / $3 / $4 / $5 * 100}')
    # shellcheck disable=SC2086
    rss=$(echo "$(rss_kib $pids) $N" | awk '{printf "%.1f", $1 / $2 / 1024}')
    hmax=0
    i=1
    while [ "$i" -le "$N" ]; do
        h=$(members_json "$run/host$i" | jq '[.[] | select(.name == "host'"$i"'") | .local_health // 0] | max // 0')
        [ "$h" -gt "$hmax" ] && hmax=$h
        i=$((i + $((N / 10 > 0 ? N / 10 : 1))))
    done
    lat=""
    for k in 1 2 3 4 5; do
        a=$(now)
        "$NODECTL" -c "$last/nodectl.conf" status >/dev/null
        lat="$lat $(echo "$a $(now)" | awk '{printf "%.1f", ($2 - $1) * 1000}')"
    done
    lat=$(echo "$lat" | tr ' ' '\n' | grep . | sort -n | sed -n 3p)
    # Leader kill, watched from the last (non-candidate) agent.
    leader=$(status_json "$last" | jq -r '.leader // empty')
    lt=none
    dt=none
    if [ -n "$leader" ]; then
        k=${leader#host}
        lpid=$(echo $pids | cut -d' ' -f"$k")
        kill -KILL "$lpid"
        tk=$(now)
        while [ "$(elapsed "$tk" "$(now)" | cut -d. -f1)" -lt 60 ]; do
            l=$(status_json "$last" | jq -r '.leader // empty')
            if [ "$lt" = none ] && [ -n "$l" ] && [ "$l" != "$leader" ]; then
                lt=$(elapsed "$tk" "$(now)")
            fi
            if [ "$dt" = none ]; then
                st=$(members_json "$last" | jq -r '.[] | select(.name == "'"$leader"'") | .state')
                [ "$st" = dead ] && dt=$(elapsed "$tk" "$(now)")
            fi
            [ "$lt" != none ] && [ "$dt" != none ] && break
            sleep 0.05
        done
        lt_poll=$lt
        dt_poll=$dt
        lt=$(log_since "$last/agent.log" "$tk" \
            'test("^leader is ") and (capture("^leader is (?<l>[^ ]+)").l != "'"$leader"'")')
        dt=$(log_since "$last/agent.log" "$tk" 'test("^member '"$leader"': .* -> dead")')
    fi
    printf '%5s %7s %7s %8s %8s %8s %10s %8s %10s %9s %7s\n' "$N" "$(log_join "$run" "$N" "$t0")" \
        "$join" "$cpu" "$rss" "$((s1 - s0))" \
        "$hmax" "$fps" "$lat" "$lt" "$dt"
    # Which traffic it is: the last agent's frames by channel and gossip
    # packets by kind, per second at rest (the non-zero ones).
    echo "#   join: the agents used ${join_cpu} CPU-s in the ${join_cpu_at} s from their start to" \
        "full membership seen by this script (or its timeout), $(nproc) cores;" \
        "their logs have ${join_susp} '-> suspect' lines (false: nobody failed;" \
        "one suspicion is logged by every agent that learns it)"
    [ -n "$leader" ] && echo "#   kill of $leader: \`nodectl status\` on host$N named another" \
        "leader after ${lt_poll} s, \`nodectl members\` showed $leader dead after ${dt_poll} s"
    echo "#   rest window ${rest} s: candidates' CPU" \
        "$(echo "$k0 $k1 $HZ $rest" | awk '{printf "%.2f", ($2 - $1) / $3 / $4 / 3 * 100}')% each," \
        "terms $(jq '.term' "$run/status0.json") -> $(jq '.term' "$run/status1.json")"
    echo "#   traffic/s of host$N:" "$(jq -r -n --argjson r "$rest" \
        --slurpfile a "$run/status0.json" --slurpfile b "$run/status1.json" \
        '($b[0].traffic // {}) | to_entries | map(select(.value > 0))
         | map("\(.key) \(((.value - ($a[0].traffic[.key] // 0)) / $r * 10 | round) / 10)")
         | join(", ")')"
    # Agents that died on their own (a crash): named, with the end of their log.
    i=0
    for p in $pids; do
        i=$((i + 1))
        [ "host$i" = "$leader" ] && continue
        if ! kill -0 "$p" 2>/dev/null; then
            echo "#   host$i (pid $p) died: $(tail -1 "$run/host$i/agent.log")"
        fi
    done
    # What else ran meanwhile: the figures are per agent, the machine is shared.
    echo "#   load $(cut -d' ' -f1-3 /proc/loadavg); busiest others:" \
        "$(ps -eo pcpu=,comm= --sort=-pcpu | grep -v nodectl | head -5 | awk '{printf "%s %s%%  ", $2, $1}')"
    stop_all
    if [ -n "$KEEP_DIR" ]; then
        mkdir -p "$KEEP_DIR/n$N"
        for d in "$run"/host*; do
            mkdir -p "$KEEP_DIR/n$N/${d##*/}"
            cp "$d"/agent.log "$d"/status1.json "$KEEP_DIR/n$N/${d##*/}/" 2>/dev/null || true
        done
    fi
    if [ -n "$PERF_DIR" ] && [ -f "$PERF_DIR/perf-n$N.data" ]; then
        perf report -q -i "$PERF_DIR/perf-n$N.data" --no-children --sort dso --stdio \
            >"$PERF_DIR/dso-n$N.txt" 2>/dev/null || true
        perf report -q -i "$PERF_DIR/perf-n$N.data" --no-children --sort dso,symbol --stdio \
            -g none >"$PERF_DIR/sym-n$N.txt" 2>/dev/null || true
        echo "#   perf of host$N: $PERF_DIR/dso-n$N.txt, sym-n$N.txt"
    fi
    rm -rf "$run"
done
