#!/bin/sh
# A flood of unauthenticated connections against a real agent (docs/security.md, layer 1):
# a 3-agent loopback cluster, then IDLE idle connections (no SP handshake)
# and SLOW slow ones (SP handshake, a frame of the transport's largest size
# announced and sent but for its last 64 bytes, then a byte a second), all
# from 127.0.0.2, against the first agent for SECONDS. Prints the agent's
# RSS every second and whether legitimate traffic flowed (its status
# answers, it sees 3 alive members, a record update travels each way).
# Target: RSS within +20 MB of before, legitimate traffic flowing.
# Builds a Release tree of its own.
# usage: bench/flood.sh [IDLE [SLOW [SECONDS [ANNOUNCE_BYTES]]]]
set -eu
cd "$(dirname "$0")/.."
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-bench -j2 --target nodectl flood >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
build-bench/bench/flood "$work" "${1:-2000}" "${2:-2000}" "${3:-30}" ${4:+"$4"}
