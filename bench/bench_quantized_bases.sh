#!/usr/bin/env bash
# Issue 4's table in one invocation: the frozen base of LoRA training held as bf16-copied fp32
# (plain LoRA), NF4, NF4 + double quant, FP4, int8 rows, and the GGUF file's own Q4_1 blocks: bits
# per parameter of the projections (measured from the resident containers by `frugal quantize`;
# for Q4_1 from the file), the unadapted model's wikitext-2 perplexity, and one LoRA training run
# each (r 8, all linear layers, 2 x 512 packed tokens, bf16 matmuls, 3 steps): peak RSS and the
# training steps' tokens/s. Run on a quiet machine.
# usage: bench/bench_quantized_bases.sh [model.gguf] [ppl tokens]
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf}
tokens=${2:-4096}
frugal=build/frugal
text=tests/data/datasets/wikitext-2-raw/wiki.test.raw
work=$(mktemp -d /tmp/frugal-bench-qbase.XXXXXX)
trap 'rm -rf "$work"' EXIT
python3 - "$work/rows.jsonl" <<'PY'
import json, sys
text = open("tests/data/datasets/tinyshakespeare/input.txt").read()
with open(sys.argv[1], "w") as f:
    for i in range(32):
        f.write(json.dumps({"text": text[i * 2000:(i + 1) * 2000]}) + "\n")
PY

printf "| base | bits/param (projections) | wikitext-2 perplexity, unadapted | peak RSS (GiB) | training tokens/s |\n"
printf "| --- | ---: | ---: | ---: | ---: |\n"
# row <label> <quantize args or -> <train args>
row() {
  local label=$1 qargs=$2 targs=$3 bits ppl
  if [ "$qargs" = "-" ]; then
    bits=$4
    ppl=$("$frugal" perplexity -m "$model" -f "$text" --ctx 512 --stride 512 --max-tokens "$tokens" 2>/dev/null |
      grep -oE "ppl [0-9.]+" | grep -oE "[0-9.]+")
  else
    "$frugal" quantize -m "$model" $qargs --ppl-file "$text" --max-tokens "$tokens" --ctx 512 >"$work/q.txt" 2>&1
    bits=$(grep -oE "= [0-9.]+ bits per parameter" "$work/q.txt" | grep -oE "[0-9.]+")
    ppl=$(grep -oE "after [0-9.]+" "$work/q.txt" | grep -oE "[0-9.]+")
  fi
  rm -rf "$work/out"
  "$frugal" train --base_model "$model" --dataset "$work/rows.jsonl" --sample_packing true --sequence_len 512 \
    --micro_batch_size 2 --max_steps 3 --bf16 true --output_dir "$work/out" $targs >"$work/train.log" 2>&1
  python3 - "$work/out/summary.json" "$label" "$bits" "$ppl" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
print(f"| {sys.argv[2]} | {float(sys.argv[3]):.3f} | {float(sys.argv[4]):.2f} | {j['peak_rss_bytes'] / 2**30:.2f} | "
      f"{j['plan']['measured_training_tokens_per_second']:.0f} |")
PY
}
row "LoRA, fp32 base (+ bf16 copies)" - "" 48
row "QLoRA NF4" "--type nf4" "--load_in_4bit true --bnb_4bit_use_double_quant false"
row "QLoRA NF4 + double quant" "--type nf4 --double-quant" "--load_in_4bit true"
row "QLoRA FP4" "--type fp4" "--load_in_4bit true --bnb_4bit_quant_type fp4 --bnb_4bit_use_double_quant false"
row "int8 rows (load_in_8bit)" "--type int8" "--load_in_8bit true"
q41_bits=$(python3 -c "print(8 * 20 / 32)")  # Q4_1: 32 weights in 16 B of nibbles + fp16 scale and min
row "GGUF Q4_1 as stored (keep_gguf_quantization)" - "--keep_gguf_quantization true" "$q41_bits"
