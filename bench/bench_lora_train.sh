#!/usr/bin/env bash
# LoRA training benchmark, frugal vs PyTorch + PEFT side by side on this machine in one invocation
# (issue 3): SmolLM2-135M-Instruct (the Q4_1 GGUF, dequantized by both), LoRA r=16 alpha=32
# dropout 0.05 on all 7 linear projections, AdamW lr 2e-4 (constant), grad-norm clip 1.0,
# micro-batch 4 x 512 tokens of tinyshakespeare, in three modes:
#   fp32       frugal --bf16 false              | torch fp32
#   bf16       frugal --bf16 true               | torch.autocast("cpu", bfloat16) over fp32 weights
#   bf16_ckpt  bf16 + --gradient_checkpointing  | autocast + transformers' activation checkpointing
#   qlora      bf16 + load_in_4bit NF4 + DQ       | bitsandbytes NF4 + DQ, bf16 compute, PEFT's
#                                                 | prepare_model_for_kbit_training, autocast
#   qlora_ckpt qlora + --gradient_checkpointing   | qlora + gradient checkpointing
# Every run is its own process (so peak RSS is that mode's alone), one at a time, never in parallel.
#
# Comparable timing: each run does WARMUP untimed steps (default 1) and then STEPS timed ones;
# tokens/s = timed tokens / timed seconds. For torch the steps are timed in the script; for frugal
# they come from metrics.jsonl (one line per step, cumulative tokens and elapsed seconds), NOT from
# summary.json's tokens_per_second, which counts the first step and the final adapter/checkpoint
# writing too (it is kept in the JSON as summary_tokens_per_second_all_steps).
# Data: frugal reads {"text"} records of >= 3000 characters, each truncated to its first 512 tokens
# (so every micro-batch is exactly 4 x 512 real tokens, checked); torch tokenizes the whole file and
# cuts it into consecutive 512-token rows. Both train on every token.
# Peak RSS: frugal's summary.json (getrusage at the end of the run); torch: ru_maxrss at the end.
#
# Needs the reference Python environment (tests/reference/setup_reference_env.sh).
# Usage: bench/bench_lora_train.sh [steps (default 5)] [threads (default: all cores)]
# Env:   WARMUP=1  MODES="fp32 bf16 bf16_ckpt qlora qlora_ckpt"  LORA_DROPOUT=0.05  BENCH_OUT=runs/bench/lora_train-<time>
#        FRUGAL_REF_PYTHON=/opt/frugal-ref/bin/python
#        FRUGAL_BENCH_SKIP_BUILD=1 (do not run scripts/setup.sh)  FRUGAL_BIN=build/frugal (binary to time)
# Prints a markdown table; the raw JSON lines go to $BENCH_OUT/results.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
steps="${1:-5}"
threads="${2:-$(nproc)}"
warmup="${WARMUP:-1}"
modes="${MODES:-fp32 bf16 bf16_ckpt qlora qlora_ckpt}"
dropout="${LORA_DROPOUT:-0.05}"
python="${FRUGAL_REF_PYTHON:-/opt/frugal-ref/bin/python}"
frugal="${FRUGAL_BIN:-./build/frugal}"
out="${BENCH_OUT:-runs/bench/lora_train-$(date -u +%Y%m%dT%H%M%SZ)}"
text="tests/data/datasets/tinyshakespeare/input.txt"

[ -x "$python" ] || { echo "no reference Python at $python: run tests/reference/setup_reference_env.sh" >&2; exit 1; }
[ -n "${FRUGAL_BENCH_SKIP_BUILD:-}" ] || scripts/setup.sh build frugal >/dev/null
model="$(scripts/fetch_model.sh)"
mkdir -p "$out"
results="$out/results.jsonl"
: > "$results"
python3 bench/bench_report.py text-jsonl "$text" "$out/tinyshakespeare_3000chars.jsonl" 3000 2>/dev/null

{
  echo "# LoRA training benchmark: SmolLM2-135M-Instruct, r=16 alpha=32 dropout $dropout all-linear, 4 x 512 tokens, $warmup warm-up + $steps timed steps, $threads threads"
  echo "# $(date -u +%FT%TZ), $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, frugal $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo '+dirty')"
} | tee "$out/header.txt"

qlora=(--load_in_4bit true --bnb_4bit_quant_type nf4 --bnb_4bit_use_double_quant true)
for mode in $modes; do
  torch_args=()
  case "$mode" in
    fp32) flags=(--bf16 false --gradient_checkpointing false) ;;
    bf16) flags=(--bf16 true --gradient_checkpointing false) ;;
    bf16_ckpt) flags=(--bf16 true --gradient_checkpointing true) ;;
    qlora) flags=(--bf16 true --gradient_checkpointing false "${qlora[@]}") ;;
    qlora_ckpt) flags=(--bf16 true --gradient_checkpointing true "${qlora[@]}") ;;
    *) echo "unknown mode $mode (fp32, bf16, bf16_ckpt, qlora, qlora_ckpt)" >&2; exit 1 ;;
  esac
  if [[ $mode == qlora* ]]; then
    # transformers cannot quantize while reading a GGUF: it gets the GGUF's fp32 weights as a folder,
    # written once by a process of its own.
    hf="$out/smollm2-hf-f32"
    [ -f "$hf/config.json" ] || env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$python" bench/torch_lora_train.py \
      --model "$model" --convert_to "$hf" > "$out/convert.log" 2>&1
    torch_args=(--hf_folder "$hf")
  fi

  run="$out/frugal-$mode"
  rm -rf "$run"
  echo "frugal $mode ..." >&2
  if "$frugal" train --base_model "$model" --dataset "$out/tinyshakespeare_3000chars.jsonl" \
      --dataset_format text --sequence_len 512 --micro_batch_size 4 --gradient_accumulation_steps 1 \
      --lora_r 16 --lora_alpha 32 --lora_dropout "$dropout" --lora_target_modules all-linear \
      --learning_rate 2e-4 --lr_scheduler constant --warmup_steps 0 --weight_decay 0 --max_grad_norm 1.0 \
      --max_steps $((warmup + steps)) --logging_steps 1 --save_steps 0 --val_set_size 0 --seed 42 \
      --threads "$threads" "${flags[@]}" --output_dir "$run" > "$run.log" 2>&1; then
    python3 bench/bench_report.py frugal-train "$run" "$mode" "$warmup" "$threads" | tee -a "$results"
  else
    echo "frugal $mode failed (exit $?), see $run.log:" >&2; tail -n 5 "$run.log" >&2
    echo "{\"engine\": \"frugal\", \"mode\": \"$mode\", \"error\": \"failed, see $run.log\"}" | tee -a "$results"
  fi

  echo "torch+peft $mode ..." >&2
  # OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set on this machine for old OpenBLAS builds; they
  # would slow a current PyTorch stack, so they are unset for the torch runs only.
  if env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$python" bench/torch_lora_train.py --mode "$mode" \
      --steps "$steps" --warmup "$warmup" --threads "$threads" --lora_dropout "$dropout" \
      --model "$model" --text "$text" "${torch_args[@]}" > "$out/torch-$mode.out" 2> "$out/torch-$mode.log"; then
    tail -n 1 "$out/torch-$mode.out" | tee -a "$results"
  else
    echo "torch $mode failed (exit $?), see $out/torch-$mode.log:" >&2; tail -n 5 "$out/torch-$mode.log" >&2
    echo "{\"engine\": \"torch+peft\", \"mode\": \"$mode\", \"error\": \"failed, see $out/torch-$mode.log\"}" | tee -a "$results"
  fi
done

echo
python3 bench/bench_report.py train-table "$results" | tee "$out/table.md"
echo
echo "raw results: $results"
