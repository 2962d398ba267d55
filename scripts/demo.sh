#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and captions an image with the bundled demo checkpoint.
# Usage: scripts/demo.sh [IMAGE] [--model DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
image=${1:-tests/data/fixtures/images/inputs/coco_000000039769.png}
model=examples/models/demo-vit-gpt2
if [ "${2:-}" = "--model" ]; then model=$3; fi
echo "+ build/ved caption --model $model $image" >&2
if [ "$model" = examples/models/demo-vit-gpt2 ]; then
  echo "(demo-vit-gpt2 is a tiny test checkpoint with random weights: its text is meaningless." >&2
  echo " It exercises the whole pipeline; pass --model DIR to use a real checkpoint.)" >&2
fi
build/ved caption --model "$model" --json --args '{"max_new_tokens": 16}' "$image"
