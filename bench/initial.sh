#!/bin/sh
# Initial placement strategies on synthetic arrivals (refused, overloaded host-steps, energy):
# in-process on 60 hosts, then through `nodectl create` with real agents on loopback against
# first fit, round robin and random on the same arrivals.
# usage: bench/initial.sh [seed [arrivals]]
set -eu
cd "$(dirname "$0")/.."
seed=${1:-1}
arrivals=${2:-48}
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DNODECTL_TESTS=ON >/dev/null
cmake --build build-bench -j2 --target bench_initial bench_create nodectl >/dev/null
./build-bench/bench/bench_initial "$seed"
echo
dir=$(mktemp -d /tmp/nodectl-bench-create.XXXXXX)
trap 'rm -rf "$dir"' EXIT
NODECTL=$PWD/build-bench/src/nodectl ./build-bench/bench/bench_create "$dir" "$arrivals" "$seed"
