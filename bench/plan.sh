#!/bin/sh
# Milliseconds per planning round from 1,000 to 10,000 hosts (10 VMs each).
# usage: bench/plan.sh [policy ...]
set -eu
cd "$(dirname "$0")/.."
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DNODECTL_TESTS=ON >/dev/null
cmake --build build-bench -j2 --target bench_plan >/dev/null
./build-bench/bench/bench_plan "$@"
