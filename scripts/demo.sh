#!/usr/bin/env bash
# The README's first command: installs what the library and the CLI need (only the missing
# Debian packages), builds those two alone in build/ (no tests, no examples), and reads a text
# line with the embedded default model (examples/models/tiny-ocr).
# Usage: scripts/demo.sh [IMAGE...]   (default: the model's first shipped sample)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ci-deps.sh cmake make g++ pkg-config libeigen3-dev libstb-dev nlohmann-json3-dev \
  libsentencepiece-dev
# Tests and examples off: scripts/test.sh turns them on again in the same build tree, which
# then reuses the library built here.
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DVED_BUILD_TESTS=OFF -DVED_BUILD_EXAMPLES=OFF \
  >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" --target ved_cli
(($#)) || set -- examples/models/tiny-ocr/samples/00.png
echo "+ build/ved caption $*" >&2
build/ved caption "$@"
