#!/usr/bin/env bash
# Installs what ved needs from Debian's packages (only the missing ones) and builds it in build/
# with its tests and examples.
# Usage: scripts/setup.sh [extra cmake arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(cmake make g++ pkg-config libeigen3-dev libstb-dev nlohmann-json3-dev libsentencepiece-dev libgtest-dev
  libpoppler-cpp-dev libcpp-httplib-dev curl)
bash scripts/ci-deps.sh "${packages[@]}"

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DVED_BUILD_TESTS=ON -DVED_BUILD_EXAMPLES=ON "$@"
cmake --build build -j"$jobs"
