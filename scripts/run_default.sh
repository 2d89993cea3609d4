#!/usr/bin/env bash
# The main job on the built-in default: fine-tune SmolLM2-135M-Instruct with LoRA on the built-in
# task (rewrite dates written in everyday styles as YYYY-MM-DD), and show held-out exact match and
# eval loss before and after. Installs and builds what it needs; takes a few minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build frugal  # only the program; scripts/test.sh builds the tests too
model="$(scripts/fetch_model.sh)"
work="${FRUGAL_RUN_DIR:-runs/default}"
mkdir -p "$work"
frugal=./build/frugal

echo "== model"
$frugal info -m "$model"
echo
echo "== data: the built-in task, 2000 training and 100 held-out examples"
$frugal make-dataset -o "$work/data" --train 2000 --eval 100 >/dev/null
head -n 2 "$work/data/train.jsonl"
echo
echo "== before fine-tuning"
$frugal evaluate -m "$model" --data "$work/data/eval.jsonl" | tee "$work/before.txt"
echo
echo "== LoRA fine-tuning (r=16, all linear layers, bf16 where the CPU has it)"
$frugal train --base_model "$model" --dataset "$work/data/train.jsonl" --val_dataset "$work/data/eval.jsonl" \
  --output_dir "$work/out" --lora_r 16 --lora_alpha 32 --learning_rate 1e-3 --warmup_steps 5 \
  --micro_batch_size 8 --max_steps 60 --eval_steps 30 --logging_steps 10
echo
echo "== after fine-tuning (adapter: $work/out/adapter, PEFT format; $work/out/adapter.gguf for llama.cpp)"
$frugal evaluate -m "$model" --adapter "$work/out/adapter" --data "$work/data/eval.jsonl" | tee "$work/after.txt"
echo
echo "== summary"
echo "before: $(tail -n 1 "$work/before.txt")"
echo "after:  $(tail -n 1 "$work/after.txt")"
echo "loss curve: $work/out/loss.svg, metrics: $work/out/metrics.jsonl"
