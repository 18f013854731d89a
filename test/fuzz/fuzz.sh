#!/bin/sh
# Builds the libFuzzer harnesses of test/fuzz with clang (a tree of their
# own) and runs each one, starting from its committed seed corpus
# (test/fuzz/corpus/<harness>), then prints per harness: executions,
# executions per second, coverage (libFuzzer's cov: edges, ft: features),
# the corpus size and the crashes. Exits 1 if any harness crashed.
#   fuzz.sh [-b BUILD] [-t SECONDS] [-n RUNS] [-k] [HARNESS...]
#     -b  build directory (default build-fuzz in the source tree)
#     -t  seconds per harness (default 3); -n  executions per harness instead
#     -k  keep the corpus grown in BUILD/corpus/<harness> for the next run
#         (bench/fuzz.sh); without it each run starts from the seeds alone
# ctest runs it briefly (label fuzz); bench/fuzz.sh runs it longer.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=$src/build-fuzz
secs=3
runs=
keep=
while getopts b:t:n:k opt; do
    case $opt in
    b) build=$OPTARG ;;
    t) secs=$OPTARG ;;
    n) runs=$OPTARG ;;
    k) keep=1 ;;
    *) sed -n '2,12p' "$0"; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
harnesses=${*:-frame gossip election command control config}

if ! command -v clang >/dev/null; then
    echo "fuzz.sh: clang is missing (scripts/install-deps.sh installs clang and libclang-rt-14-dev)"
    exit 1
fi
mkdir -p "$build"
cmake -S "$src" -B "$build" -DCMAKE_C_COMPILER=clang -DNODECTL_FUZZ=ON -DNODECTL_TESTS=OFF \
    -DCMAKE_BUILD_TYPE=Debug >"$build/configure.log" 2>&1 || { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j2 --target fuzzers >"$build/build.log" 2>&1 || { cat "$build/build.log"; exit 1; }

# libFuzzer reports leaks itself; ctest's suppressions are for the agent.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:malloc_context_size=4}
limit="-max_total_time=$secs"
[ -n "$runs" ] && limit="-runs=$runs"
fail=0
printf '%-9s %12s %9s %6s %7s %7s %8s\n' harness execs exec/s cov ft corpus crashes
for h in $harnesses; do
    work=$build/run/$h
    rm -rf "$work"
    mkdir -p "$work/crashes"
    if [ -n "$keep" ]; then
        corpus=$build/corpus/$h
    else
        corpus=$work/corpus
    fi
    mkdir -p "$corpus"
    rc=0
    # Inputs are schedules of small steps: 512 bytes is a few hundred steps,
    # long enough for several elections; a configuration file is longer
    # (4 KiB: every key with a value past its bound, lines past inih's 200).
    max_len=512
    [ "$h" = config ] && max_len=4096
    "$build/test/fuzz/fuzz_$h" $limit -max_len=$max_len -print_final_stats=1 \
        -artifact_prefix="$work/crashes/" "$corpus" "$here/corpus/$h" >"$work/log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log")
    last=$(grep -E '^#[0-9]+' "$work/log" | grep -E 'cov: ' | tail -1)
    cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    files=$(find "$corpus" -type f | wc -l)
    crashes=$(find "$work/crashes" -type f | wc -l)
    printf '%-9s %12s %9s %6s %7s %7s %8s\n' "$h" "${execs:-?}" "${rate:-?}" "${cov:-?}" \
        "${ft:-?}" "$files" "$crashes"
    if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
        echo "FAIL: fuzz_$h exited $rc; log $work/log, input in $work/crashes:" >&2
        grep -E -A25 'ERROR|runtime error|fuzz_[a-z]*:' "$work/log" | head -40 >&2
        fail=1
    fi
done
exit $fail
