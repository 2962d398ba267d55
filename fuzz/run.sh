#!/usr/bin/env bash
# Runs ved's libFuzzer targets, each for SECONDS, one after the other (see fuzz/README.md).
# Usage: fuzz/run.sh [-t SECONDS] [-b BUILD_DIR] [-s SEED] [TARGET...]
#   TARGET: safetensors torch_bin config tokenizer decode image regex request (default: all)
# The fuzzers must be built (scripts/ci-fuzz.sh does both). Seeds are staged from
# tests/data/fixtures, tests/data/hostile and fuzz/seeds into BUILD_DIR/fuzz/seeds/TARGET; what a
# run discovers accumulates in BUILD_DIR/fuzz/corpus/TARGET and crashes land in
# BUILD_DIR/fuzz/artifacts/TARGET. Any crash, leak, timeout or sanitizer report fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
build=build-fuzz
seed_args=()
while getopts t:b:s: opt; do
  case $opt in
    t) seconds=$OPTARG ;;
    b) build=$OPTARG ;;
    s) seed_args=(-seed="$OPTARG") ;;
    *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
targets=("$@")
((${#targets[@]})) || targets=(safetensors torch_bin config tokenizer decode image regex request)

fx=tests/data/fixtures
hostile=tests/data/hostile

# copy SRC into the seed folder, prefixed with the selector byte BYTE when given.
seed() {
  local dir=$1 src=$2 byte=${3:-}
  [ -f "$src" ] || return 0
  local out="$dir/$(printf '%s' "$src" | tr '/' '_')${byte:+_$byte}"
  if [ -n "$byte" ]; then
    { printf "\\x$(printf %02x "$byte")"; cat "$src"; } >"$out"
  else
    cp "$src" "$out"
  fi
}

# Files of the hostile corpus whose manifest entry point is one of the given names.
hostile_files() {
  local entries=" $* "
  [ -f "$hostile/MANIFEST.tsv" ] || return 0
  while IFS=$'\t' read -r file entry _; do
    [[ $file == \#* || -z $file ]] && continue
    [[ $entries == *" $entry "* ]] && echo "$hostile/$file"
  done <"$hostile/MANIFEST.tsv"
}

stage() {
  local t=$1 d=$build/fuzz/seeds/$1 f
  rm -rf "$d"
  mkdir -p "$d"
  case $t in
    safetensors)
      for f in fuzz/seeds/safetensors/* $(hostile_files safetensors); do seed "$d" "$f"; done ;;
    torch_bin)
      for f in $fx/variants/models/vit-bert-bin-sharded/*.bin $(hostile_files bin); do seed "$d" "$f"; done ;;
    config)
      for f in $fx/models/*/*config.json $fx/variants/models/*/*config.json \
        $fx/images/*/preprocessor_config.json examples/models/demo-vit-gpt2/*config.json \
        $(hostile_files config generation_config preprocessor_config); do
        seed "$d" "$f"
      done ;;
    tokenizer)
      local demo=examples/models/demo-vit-gpt2
      seed "$d" $demo/vocab.json 0
      seed "$d" $demo/merges.txt 1
      seed "$d" $demo/tokenizer_config.json 2
      seed "$d" $fx/tokenizers/roberta/tokenizer_config.json 2
      seed "$d" $demo/special_tokens_map.json 3
      seed "$d" $fx/tokenizers/roberta/special_tokens_map.json 3
      seed "$d" $fx/tokenizers/roberta/added_tokens.json 4
      head -c 2000 $fx/tokenizers/bert-uncased/vocab.txt >"$d/bert_vocab_head.txt"
      seed "$d" "$d/bert_vocab_head.txt" 5 && rm "$d/bert_vocab_head.txt"
      seed "$d" $fx/tokenizers/bert-uncased/tokenizer_config.json 6
      for f in fuzz/seeds/tokenizer_json/*.json; do seed "$d" "$f" 7; done
      seed "$d" $fx/tokenizers/xlm-roberta/sentencepiece.bpe.model 8
      seed "$d" $fx/tokenizers/xlm-roberta/tokenizer_config.json 9
      for f in $(hostile_files vocab.json); do seed "$d" "$f" 0; done
      for f in $(hostile_files merges); do seed "$d" "$f" 1; done
      for f in $(hostile_files vocab.txt); do seed "$d" "$f" 5; done
      for f in $(hostile_files tokenizer.json); do seed "$d" "$f" 7; done ;;
    decode)
      local i=0 text
      for text in "Hello world, it's a test." "a photo of a cat <s></s> [CLS]" \
        $'caf\xc3\xa9 \xe2\x96\x81x \xf0\x9f\x98\x80' $'\xff\xfe\x00 bad \xc0\x80'; do
        for sel in 0 1 2 3 48 209; do printf "\\x$(printf %02x $sel)%s" "$text" >"$d/text_$i"; i=$((i + 1)); done
      done ;;
    image)
      for f in fuzz/seeds/image/* $fx/images/inputs/*.png $(hostile_files image); do
        case $f in
          *.tga) seed "$d" "$f" 1 ;;
          *) seed "$d" "$f" 0; seed "$d" "$f" 4 ;;
        esac
      done ;;
    regex)
      # pattern, NUL, text: the tokenizer.json and post-processing patterns ved runs.
      local i=0 p
      for p in "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+" \
        '[\(\)\[\]\{\}]|([!"\#\$%\&'"'"'\*\+,\-\./:;<=>\?\\\^_`\|\~])\1*' \
        '(?<=\n)(#+ [^\n]*)\n(?!#)' '^(\d+\.)\s*(.*)$' '(a|ab)*?c\b(?P<x>\w+)(?P=x)'; do
        printf '%s\0%s' "$p" $'Hello, world!! 3.14 (x) \xc3\xa9t\xc3\xa9\n## Title\nabab c' >"$d/re_$i"
        i=$((i + 1))
      done ;;
    request)
      # Content-Type selector byte (0: JSON, 1: image/png), then a body as clients send it.
      local png=$fx/images/inputs/two_dots_48x36.png b64
      b64=$(base64 -w0 "$png")
      printf '\x00{"inputs": "%s", "parameters": {"num_beams": 2, "max_new_tokens": 5}}' "$b64" >"$d/json"
      printf '\x00{"inputs": ["%s", "data:image/png;base64,%s"], "details": true}' "$b64" "$b64" >"$d/batch"
      printf '\x00{"inputs": "%s", "stream": true, "parameters": {"do_sample": true, "seed": 3, "details": true}}' "$b64" >"$d/stream"
      seed "$d" "$png" 1 ;;
    *) echo "fuzz/run.sh: unknown target '$t'" >&2; exit 2 ;;
  esac
}

declare -A max_len=([safetensors]=65536 [torch_bin]=65536 [config]=16384 [tokenizer]=262144
  [decode]=4096 [image]=16384 [regex]=4096 [request]=16384)
declare -A dict=([safetensors]=safetensors [torch_bin]=torch_bin [config]=json
  [tokenizer]=tokenizer [decode]=tokenizer [image]=image [regex]=regex [request]=json)

for t in "${targets[@]}"; do
  exe=$build/fuzz/fuzz_$t
  [ -x "$exe" ] || { echo "fuzz/run.sh: $exe is not built" >&2; exit 2; }
  stage "$t"
  mkdir -p "$build/fuzz/corpus/$t" "$build/fuzz/artifacts/$t"
  echo "== fuzz_$t: ${seconds}s, $(ls "$build/fuzz/seeds/$t" | wc -l) seeds"
  start=$(date +%s)
  # A failure leaves the crashing input in artifacts/ and the report in the log.
  if ! "$exe" -max_total_time="$seconds" -max_len="${max_len[$t]}" -timeout=30 \
    -rss_limit_mb=2560 -dict="fuzz/dict/${dict[$t]}.dict" -print_final_stats=1 "${seed_args[@]}" \
    -artifact_prefix="$build/fuzz/artifacts/$t/" \
    "$build/fuzz/corpus/$t" "$build/fuzz/seeds/$t" >"$build/fuzz/$t.log" 2>&1; then
    tail -n 60 "$build/fuzz/$t.log"
    echo "fuzz/run.sh: fuzz_$t FAILED; reproduce with $exe $build/fuzz/artifacts/$t/<crash file>" >&2
    exit 1
  fi
  # libFuzzer's last status line (execs, coverage, features) and its final stats.
  grep -E '^#[0-9]+' "$build/fuzz/$t.log" | tail -n 1
  grep -E 'stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb' \
    "$build/fuzz/$t.log" | tr '\n' ' '
  echo "($(($(date +%s) - start))s)"
done
