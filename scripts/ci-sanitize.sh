#!/usr/bin/env bash
# The whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer, in build-asan.
# Any sanitizer report fails the run. Usage: scripts/ci-sanitize.sh [ctest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

# -O1 -g1: a sanitized -O2 build takes twice as long to compile for little gain in run time,
# and line tables are all the reports need (full -g costs a large share of the compile time).
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
  -DVED_SANITIZE=ON -DVED_NATIVE=OFF
cmake --build build-asan -j"$jobs"

export ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1:strict_init_order=1:check_initialization_order=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# No LeakSanitizer suppressions.
# packaging.find_package builds an uninstrumented consumer against the instrumented libved.a,
# which cannot link, and the ctypes example loads the instrumented libved_c.so into an
# uninstrumented python3, which ASan refuses; the normal build runs both. The server's resident
# size test measures ASan's quarantine under ASan, not the server: the normal build runs it.
ctest --test-dir build-asan --output-on-failure -j"$jobs" --timeout 1800 \
  -E '^packaging\.|^Examples\.(CAndPythonPrintTheLibrarysCaption|ReadmeCommandsRun)$|^ServerCli\.MemoryStaysFlatUnderLoad$' "$@"
