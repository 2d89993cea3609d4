#!/usr/bin/env bash
# Upstream readers on frugal's outputs: a short LoRA run on stories260K, then the `gguf` package
# reads the GGUF LoRA file and checks it as llama.cpp's loader would (names, orientation, alpha,
# Q/K rows against the PEFT folder), and the same against a GGUF base written by `frugal merge`.
# Usage: check_adapters.sh FRUGAL_BINARY PYTHON TEST_DATA REPO
set -euo pipefail
frugal="$1" python="$2" data="$3" repo="$4"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
printf '{"text": "Lily saw a big red ball in the park."}\n{"text": "Tom had a little dog named Max."}\n' > "$work/data.jsonl"
model="$data/stories260K/stories260K.bin" tok="$data/stories260K/tok512.bin"
"$frugal" train --base_model "$model" --tokenizer "$tok" --dataset "$work/data.jsonl" --output_dir "$work/out" \
  --lora_r 4 --lora_alpha 8 --use_rslora true --max_steps 3 --learning_rate 1e-2 --bf16 false >/dev/null 2>&1
"$frugal" merge -m "$model" --tokenizer "$tok" -o "$work/base.gguf" --dtype f32 >/dev/null 2>&1
"$python" "$repo/tests/reference/check_gguf_lora.py" "$work/out/adapter.gguf" \
  --base "$repo/tests/fixtures/stories260k_hf/f32_sharded" --peft "$work/out/adapter"
"$python" "$repo/tests/reference/check_gguf_lora.py" "$work/out/adapter.gguf" --base "$work/base.gguf"
