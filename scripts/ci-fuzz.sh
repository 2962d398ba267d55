#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in build-fuzz and runs each for SECONDS (default 60).
# Usage: scripts/ci-fuzz.sh [SECONDS] [TARGET...]
# The mutation seed is fixed (VED_FUZZ_SEED, default 1) so that CI replays the same inputs on
# every run and does not turn red at random: a shorter or slower run sees a prefix of them. Real
# fuzzing (fuzz/README.md) runs with a random seed, for longer.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
# libFuzzer and the sanitizer runtimes come with clang's runtime package (not a dependency of clang).
scripts/ci-deps.sh clang libclang-rt-dev cmake make pkg-config libeigen3-dev libstb-dev \
  nlohmann-json3-dev libsentencepiece-dev
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ -DVED_BUILD_FUZZERS=ON -DVED_NATIVE=OFF \
  -DVED_BUILD_TESTS=OFF -DVED_BUILD_EXAMPLES=OFF -DVED_BUILD_CLI=OFF -DVED_BUILD_BENCH=OFF
cmake --build build-fuzz --target ved_fuzzers -j"$jobs"
fuzz/run.sh -t "$seconds" -b build-fuzz -s "${VED_FUZZ_SEED:-1}" "$@"
