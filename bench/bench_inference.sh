#!/usr/bin/env bash
# Inference benchmark, frugal vs PyTorch (transformers) side by side on this machine in one run:
# prompt processing of one ~512-token prompt and greedy decode of 128 tokens, SmolLM2-135M-Instruct.
# Needs the reference Python environment (tests/reference/setup_reference_env.sh).
# Usage: bench/bench_inference.sh [threads]
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-$(nproc)}"
python="${FRUGAL_REF_PYTHON:-/opt/frugal-ref/bin/python}"
scripts/setup.sh build >/dev/null
model="$(scripts/fetch_model.sh)"
prompt="$(mktemp)"
# About 512 tokens of real text.
head -c 2300 ../shared/data/datasets/tinyshakespeare/input.txt > "$prompt"

for dtype in f32 bf16; do
  stats=$(./build/frugal generate -m "$model" --prompt-file "$prompt" -n 128 --ignore-eos --dtype "$dtype" -t "$threads" 2>&1 >/dev/null | tail -n 1)
  # "prompt: N tokens in S s (X tok/s); generated M tokens in S s (Y tok/s), dtype"
  echo "$stats" | sed -E 's/prompt: ([0-9]+) tokens in [0-9.]+ s \(([0-9.]+) tok\/s\); generated ([0-9]+) tokens in [0-9.]+ s \(([0-9.]+) tok\/s\), (.*)/{"engine": "frugal", "dtype": "\5", "prompt_tokens": \1, "prompt_tok_s": \2, "decode_tokens": \3, "decode_tok_s": \4}/'
done
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$python" bench/torch_inference.py "$model" "$prompt" 128 "$threads" 2>/dev/null
rm -f "$prompt"
