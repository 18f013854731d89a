#!/bin/sh
# README command (1): install, build, start a small local cluster of agents on
# loopback, each with its own libvirt test-driver host (test:///PATH.xml, so
# hosts carry distinct VMs), and show `nodectl status`. The VMs' CPU demand
# moves through a day in a few minutes (the synthetic load knob, [hypervisor]
# synthetic_load_file): quiet, so the leader (in `advise`) plans to
# consolidate the VMs and power hosts off; busy, so it plans to spread them
# out; one host hot. It plans and explains; it does not act (advise).
#   scripts/demo.sh [N]     start N agents (default 5; host1-3 are leader
#                           candidates) and show the status, the dashboard's
#                           URL and the plan
#   scripts/demo.sh stop    stop them
set -eu
cd "$(dirname "$0")/.."
ROOT=$PWD
DEMO=$ROOT/demo
NODECTL=$ROOT/build/src/nodectl

stop() {
    for pidfile in "$DEMO"/load.pid "$DEMO"/*/agent.pid; do
        [ -f "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        kill -TERM "$pid" 2>/dev/null && echo "stopped agent $pid"
        rm -f "$pidfile"
    done
}

if [ "${1:-}" = stop ]; then
    stop
    exit 0
fi
N=${1:-5}

./scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target nodectl

stop
mkdir -p "$DEMO"
# As on real hosts: one key for the whole cluster, a CA kept apart (its
# secret key is needed only to sign), and for every host its own key and a
# certificate of the CA.
[ -f "$DEMO/cluster.key" ] || "$NODECTL" keygen "$DEMO/cluster.key"
[ -f "$DEMO/ca/ca.pub" ] || "$NODECTL" ca init "$DEMO/ca" >/dev/null 2>&1
candidates=""
i=1
while [ "$i" -le "$N" ]; do
    [ "$i" -le 3 ] && candidates="${candidates:+$candidates, }host$i"
    i=$((i + 1))
done

i=1
while [ "$i" -le "$N" ]; do
    h=host$i
    d=$DEMO/$h
    mkdir -p "$d"
    # A test-driver host: 8 CPUs, 16 GiB, two running VMs and one shut off.
    # 4 + 3 vCPUs: when both VMs are busy, the host is.
    cat >"$d/hypervisor.xml" <<XML
<node>
  <cpu><mhz>2600</mhz><model>x86_64</model><active>8</active><nodes>1</nodes>
       <sockets>1</sockets><cores>8</cores><threads>1</threads></cpu>
  <memory>16777216</memory>
  <domain type="test"><name>$h-web</name><uuid>00000000-0000-4000-8000-0000000000${i}1</uuid>
    <memory>2097152</memory><currentMemory>2097152</currentMemory><vcpu>4</vcpu><os><type>hvm</type></os></domain>
  <domain type="test"><name>$h-db</name><uuid>00000000-0000-4000-8000-0000000000${i}2</uuid>
    <memory>4194304</memory><currentMemory>4194304</currentMemory><vcpu>3</vcpu><os><type>hvm</type></os></domain>
  <domain type="test" xmlns:test="http://libvirt.org/schemas/domain/test/1.0"><name>$h-batch</name>
    <uuid>00000000-0000-4000-8000-0000000000${i}3</uuid>
    <memory>1048576</memory><currentMemory>1048576</currentMemory><vcpu>1</vcpu><os><type>hvm</type></os>
    <test:runstate>5</test:runstate></domain>
</node>
XML
    pk=$("$NODECTL" identity init --key "$d/host.key" 2>/dev/null)
    candidate=""
    [ "$i" -le 3 ] && candidate=--candidate
    "$NODECTL" ca sign --ca "$DEMO/ca" $candidate -o "$d/host.cert" "$h" "$pk" 2>/dev/null
    cat >"$d/nodectl.conf" <<CONF
[cluster]
name = demo
seeds = 127.0.0.1:7946
candidates = $candidates
key_file = $DEMO/cluster.key
keyring_file = $d/keyring
ca_file = $DEMO/ca/ca.pub
cert_file = $d/host.cert
host_key_file = $d/host.key
# Seeds find the others here; multicast discovery is for real LANs.
discovery = false

[node]
name = $h
bind_address = 127.0.0.1
port = $((7945 + i))
state_dir = $d/state
control_socket = $d/nodectl.sock

log_format = text

[http]
# The dashboard and metrics of this host (any host's show the cluster).
listen = 127.0.0.1:$((9749 + i))

[hypervisor]
uri = test://$d/hypervisor.xml
sample_interval = 1s
synthetic_load_file = $DEMO/load/$h
# Takes VMs (what the leader plans with; the test driver cannot really
# migrate, which advise never asks it to).
migration_uri = test:///default

[leader]
automation = advise
plan_interval = 5s

[power]
# What would power this host off (advise never runs it) and wake it.
off_command = true
wake_mac = 02:00:00:00:00:0$i
wake_broadcast = 127.0.0.1:9
CONF
    "$NODECTL" agent -c "$d/nodectl.conf" >>"$d/agent.log" 2>&1 &
    echo $! >"$d/agent.pid"
    i=$((i + 1))
done

# The day, in a few minutes: every 60 s the VMs' CPU demand (percent of
# their vCPUs) moves to the next phase, in a loop.
mkdir -p "$DEMO/load"
cat >"$DEMO/load.sh" <<'LOAD'
#!/bin/sh
# usage: load.sh DIR N: writes DIR/hostI, the synthetic load of host I's VMs.
dir=$1 n=$2
phase() { # phase WEB DB [HOT_WEB HOT_DB]: every host's VMs, host1's if HOT given
    i=1
    while [ "$i" -le "$n" ]; do
        web=$1 db=$2
        [ "$i" -eq 1 ] && [ -n "${3:-}" ] && web=$3 db=$4
        printf 'host%s-web %s\nhost%s-db %s\n' "$i" "$web" "$i" "$db" >"$dir/host$i.tmp"
        mv "$dir/host$i.tmp" "$dir/host$i"
        i=$((i + 1))
    done
    echo "$(date +%T) load: $5" >>"$dir/phases.log"
}
while :; do
    phase 5 3 "" "" "night: every VM nearly idle; consolidate and power hosts off"; sleep 60
    phase 40 30 "" "" "morning: moderate demand"; sleep 60
    phase 95 90 "" "" "peak: every VM busy; spread the VMs out"; sleep 60
    phase 15 10 100 100 "evening: host1 hot, the rest quiet"; sleep 60
done
LOAD
chmod +x "$DEMO/load.sh"
"$DEMO/load.sh" "$DEMO/load" "$N" >/dev/null 2>&1 &
echo $! >"$DEMO/load.pid"

# Wait until every agent answers on its control socket.
i=1
while [ "$i" -le "$N" ]; do
    tries=0
    until "$NODECTL" -c "$DEMO/host$i/nodectl.conf" -t 500 status >/dev/null 2>&1; do
        tries=$((tries + 1))
        if [ "$tries" -gt 100 ]; then
            echo "host$i did not start; see $DEMO/host$i/agent.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    i=$((i + 1))
done
sleep 2 # a sample interval for CPU deltas, and a few gossip rounds

echo "== $N agents running (logs: $DEMO/host*/agent.log; stop: scripts/demo.sh stop)"
echo "\$ nodectl -c demo/host1/nodectl.conf status"
"$NODECTL" -c "$DEMO/host1/nodectl.conf" status
# The first plan comes a plan interval after the election.
leader=""
tries=0
while [ -z "$leader" ] && [ "$tries" -lt 50 ]; do
    leader=$("$NODECTL" -c "$DEMO/host1/nodectl.conf" status --json 2>/dev/null |
             sed -n 's/.*"leader": *"\([^"]*\)".*/\1/p' | head -n 1)
    tries=$((tries + 1))
    sleep 0.2
done
sleep 6
echo
echo "== the load moves every 60 s (night, morning, peak, evening; $DEMO/load/phases.log)"
echo "== dashboard: http://127.0.0.1:9750/ (every host serves one: 127.0.0.1:9750 to :$((9749 + N)))"
echo "== metrics:   http://127.0.0.1:9750/metrics"
if [ -n "$leader" ]; then
    echo "\$ nodectl -c demo/$leader/nodectl.conf plan"
    "$NODECTL" -c "$DEMO/$leader/nodectl.conf" plan || true
fi
