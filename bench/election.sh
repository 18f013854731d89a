#!/bin/sh
# Leader failover with real agents: kill -9 the leader KILLS
# times (default 50) on a 5-agent loopback cluster, for nodectl's default
# timings and for an etcd-style configuration (heartbeat 100 ms, election
# timeout 1000 ms), and print the time from the kill until a new leader
# holds a lease. Builds a Release tree of its own.
set -eu
cd "$(dirname "$0")/.."
KILLS=${1:-50}
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-bench -j"$(nproc)" --target nodectl election_failover >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/defaults" "$work/etcd"
echo "nodectl defaults:"
build-bench/bench/election_failover "$work/defaults" "$KILLS" 100 500
echo "etcd-style:"
build-bench/bench/election_failover "$work/etcd" "$KILLS" 100 1000
