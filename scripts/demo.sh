#!/bin/sh
# README command (1): install, build, start a small local cluster of agents on
# loopback, each with its own libvirt test-driver host (test:///PATH.xml, so
# hosts carry distinct VMs), and show `nodectl status`.
#   scripts/demo.sh [N]     start N agents (default 3) and show the status
#   scripts/demo.sh stop    stop them
set -eu
cd "$(dirname "$0")/.."
ROOT=$PWD
DEMO=$ROOT/demo
NODECTL=$ROOT/build/src/nodectl

stop() {
    for pidfile in "$DEMO"/*/agent.pid; do
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
N=${1:-3}

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
    cat >"$d/hypervisor.xml" <<XML
<node>
  <cpu><mhz>2600</mhz><model>x86_64</model><active>8</active><nodes>1</nodes>
       <sockets>1</sockets><cores>8</cores><threads>1</threads></cpu>
  <memory>16777216</memory>
  <domain type="test"><name>$h-web</name><uuid>00000000-0000-4000-8000-0000000000${i}1</uuid>
    <memory>2097152</memory><currentMemory>2097152</currentMemory><vcpu>2</vcpu><os><type>hvm</type></os></domain>
  <domain type="test"><name>$h-db</name><uuid>00000000-0000-4000-8000-0000000000${i}2</uuid>
    <memory>4194304</memory><currentMemory>4194304</currentMemory><vcpu>1</vcpu><os><type>hvm</type></os></domain>
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

[hypervisor]
uri = test://$d/hypervisor.xml
sample_interval = 1s
CONF
    "$NODECTL" agent -c "$d/nodectl.conf" >>"$d/agent.log" 2>&1 &
    echo $! >"$d/agent.pid"
    i=$((i + 1))
done

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
