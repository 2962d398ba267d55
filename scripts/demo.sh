#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and captions an image with the bundled demo checkpoint.
# Usage: scripts/demo.sh [IMAGE] [--model DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
image=${1:-tests/data/fixtures/images/inputs/coco_000000039769.png}
model=examples/models/demo-vit-gpt2
if [ "${2:-}" = "--model" ]; then model=$3; fi
echo "ved caption --model $model $image" >&2
build/ved caption --model "$model" --args '{"max_new_tokens": 16}' "$image"
