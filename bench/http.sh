#!/bin/sh
# The cost of being watched: two identical agents side by side in one run
# (each a one-host cluster on loopback, on its own test-driver host), one
# scraped every second as Prometheus would (GET /metrics), the dashboard's
# poll (GET /api/state) every 2 s on top; the other not. After a warm-up,
# prints each one's CPU over the window (percent of one core, from
# /proc/PID/stat) and resident memory (VmRSS, VmHWM), and the differences.
# Goal: under 1 % of a core and 2 MiB.
#   bench/http.sh [SECONDS] [NODECTL]   window (default 120 s); binary
#                                       (default: a Release build, built here)
set -eu
cd "$(dirname "$0")/.."
SECONDS_RUN=${1:-120}
NODECTL=${2:-}
if [ -z "$NODECTL" ]; then
    cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build-bench -j"$(nproc)" --target nodectl >/dev/null
    NODECTL=$PWD/build-bench/src/nodectl
fi
work=$(mktemp -d)
pids=""
cleanup() {
    for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
    sleep 1
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
port() { # a free loopback port
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
start() { # start NAME: prints its pid and HTTP port
    d=$work/$1
    mkdir -p "$d"
    gp=$(port)
    hp=$(port)
    cat >"$d/host.xml" <<XML
<node>
  <cpu><mhz>2600</mhz><model>x86_64</model><active>8</active><nodes>1</nodes>
       <sockets>1</sockets><cores>8</cores><threads>1</threads></cpu>
  <memory>16777216</memory>
  <domain type="test"><name>web</name><uuid>00000000-0000-4000-8000-000000000001</uuid>
    <memory>2097152</memory><currentMemory>2097152</currentMemory><vcpu>2</vcpu><os><type>hvm</type></os></domain>
</node>
XML
    cat >"$d/nodectl.conf" <<CONF
[cluster]
name = $1
insecure = true
discovery = false
candidates = $1
[node]
name = $1
bind_address = 127.0.0.1
port = $gp
state_dir = $d/state
control_socket = $d/ctl.sock
[http]
listen = 127.0.0.1:$hp
[hypervisor]
uri = test://$d/host.xml
sample_interval = 1s
CONF
    "$NODECTL" agent -c "$d/nodectl.conf" >"$d/agent.log" 2>&1 &
    echo "$! $hp"
}
cpu_ticks() { # utime + stime of PID, in clock ticks (proc(5))
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}
kib() { # kib PID FIELD: VmRSS or VmHWM in KiB
    awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}
set -- $(start watched)
w_pid=$1 w_port=$2
set -- $(start quiet)
q_pid=$1 q_port=$2
pids="$w_pid $q_pid"
for p in $w_port $q_port; do
    tries=0
    until curl -sf "http://127.0.0.1:$p/metrics" >/dev/null; do
        tries=$((tries + 1))
        [ "$tries" -lt 100 ] || { echo "an agent did not start; see $work/*/agent.log" >&2; exit 1; }
        sleep 0.1
    done
done
scrape() { # scrape SECONDS: /metrics every second, /api/state every other
    i=0
    while [ "$i" -lt "$1" ]; do
        curl -sf "http://127.0.0.1:$w_port/metrics" >/dev/null
        [ $((i % 2)) -eq 1 ] || curl -sf "http://127.0.0.1:$w_port/api/state" >/dev/null
        sleep 1
        i=$((i + 1))
    done
}
echo "warm-up 20 s (both agents start, elect themselves, plan; one is scraped)"
scrape 20
w0=$(cpu_ticks "$w_pid")
q0=$(cpu_ticks "$q_pid")
t0=$(date +%s.%N)
echo "window ${SECONDS_RUN} s"
scrape "$SECONDS_RUN"
w1=$(cpu_ticks "$w_pid")
q1=$(cpu_ticks "$q_pid")
t1=$(date +%s.%N)
hz=$(getconf CLK_TCK)
bytes=$(curl -s "http://127.0.0.1:$w_port/metrics" | wc -c)
state=$(curl -s "http://127.0.0.1:$w_port/api/state" | wc -c)
awk -v w="$((w1 - w0))" -v q="$((q1 - q0))" -v hz="$hz" -v t0="$t0" -v t1="$t1" \
    -v wr="$(kib "$w_pid" VmRSS)" -v qr="$(kib "$q_pid" VmRSS)" \
    -v wh="$(kib "$w_pid" VmHWM)" -v qh="$(kib "$q_pid" VmHWM)" -v mb="$bytes" -v sb="$state" 'BEGIN {
    s = t1 - t0
    printf "%-10s %12s %12s %12s\n", "", "CPU % core", "RSS MiB", "peak MiB"
    printf "%-10s %12.3f %12.2f %12.2f\n", "scraped", 100 * w / hz / s, wr / 1024, wh / 1024
    printf "%-10s %12.3f %12.2f %12.2f\n", "quiet", 100 * q / hz / s, qr / 1024, qh / 1024
    printf "%-10s %12.3f %12.2f %12.2f\n", "difference", 100 * (w - q) / hz / s, (wr - qr) / 1024,
           (wh - qh) / 1024
    printf "(goal: under 1 %% of a core and 2 MiB; /metrics is %d bytes, /api/state %d; CPU from %d ticks of 1/%d s)\n",
           mb, sb, w + q, hz
}'
