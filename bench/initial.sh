#!/bin/sh
# Initial placement strategies on synthetic arrivals (refused, overloaded host-steps, energy).
# usage: bench/initial.sh [seed]
set -eu
cd "$(dirname "$0")/.."
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DNODECTL_TESTS=ON >/dev/null
cmake --build build-bench -j2 --target bench_initial >/dev/null
./build-bench/bench/bench_initial "$@"
