#!/usr/bin/env bash
# Issue 14's pruning table (the lectures' Table 1 layout): dense / magnitude / Wanda / SparseGPT at
# 50%, 2:4 and 4:8 on SmolLM2-135M-Instruct (the Q4_1 GGUF, dequantized: "dense" is that model),
# perplexity on wikitext-2 test. Calibration: SAMPLES x 512 tokens of wiki.test.raw from byte 600000
# on; evaluation: the first TOKENS tokens of its first 600000 bytes (disjoint text), windows of 512,
# fp32. The same split as tests/fixtures/prune_smollm2 (llm-compressor's figures for 32 samples).
# Also the seconds each prune took (load, calibration, pruning and writing an fp32 HF folder).
# usage: bench/bench_prune.sh [model] [samples] [tokens]
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf}
samples=${2:-32}
tokens=${3:-16384}
frugal=build/frugal
work=$(mktemp -d /tmp/frugal-bench-prune.XXXXXX)
trap 'rm -rf "$work"' EXIT
raw=tests/data/datasets/wikitext-2-raw/wiki.test.raw
tail -c +600001 "$raw" >"$work/calib.txt"
head -c 600000 "$raw" >"$work/eval.txt"

ppl() { "$frugal" perplexity -m "$1" -f "$work/eval.txt" --ctx 512 --max-tokens "$tokens" --dtype f32 2>/dev/null |
  grep -oE "ppl [0-9.]+" | grep -oE "[0-9.]+"; }

printf "| method | 50%% | 2:4 | 4:8 |\n| --- | ---: | ---: | ---: |\n"
printf "| dense | %s | | |\n" "$(ppl "$model")"
for method in magnitude wanda sparsegpt; do
  line="| $method"
  secs=""
  for target in "--sparsity 0.5" "--pattern 2:4" "--pattern 4:8"; do
    start=$(date +%s.%N)
    "$frugal" prune -m "$model" --method "$method" $target --calib "$work/calib.txt" --calib-samples "$samples" \
      --calib-seq 512 --dtype f32 -o "$work/pruned" >/dev/null 2>"$work/log" || { cat "$work/log" >&2; exit 1; }
    secs="$secs $(printf "%.0f" "$(echo "$(date +%s.%N) - $start" | bc)")s"
    line="$line | $(ppl "$work/pruned")"
    rm -rf "$work/pruned"
  done
  printf "%s |   (prune:%s)\n" "$line" "$secs"
done
