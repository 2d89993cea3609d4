#!/usr/bin/env bash
# The planner against frugal's own runs (issue 5): `frugal train` for 2 steps over the grid
# {full fp32, LoRA fp32, LoRA bf16, QLoRA NF4 + double quant (bf16)} x {gradient checkpointing off, on}
# x {micro-batch 1, 4} at 512 tokens (packed rows of Tiny Shakespeare, so every row is full), and a
# markdown table of the plan each run records in summary.json next to what it measured.
#
# usage: bench/plan_grid.sh MODEL [TOKENIZER]
#   MODEL      a model frugal train loads (e.g. a GGUF from `frugal init-model`)
#   TOKENIZER  for a model without one (passed as --tokenizer)
# environment:
#   FRUGAL      the binary [build/frugal]          OUT_DIR  where runs go [a new temp folder]
#   ROWS        only the rows whose name matches this regex (e.g. 'lora')
#   CPU_LOCK / BIGMEM_LOCK  lock files each run holds (the team's shared machine; "" for none):
#               every run holds CPU_LOCK, a run planned above 6 GB also BIGMEM_LOCK (taken first)
#
# A row whose planned peak (frugal plan --profile frugal) is above MemAvailable is not run: it is
# listed with its prediction and "does not fit". Runs are niced; tokens/s are over the training
# steps only and noisy on a shared machine. Peak RSS is the process's VmHWM.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
frugal=${FRUGAL:-$here/build/frugal}
model=${1:?usage: bench/plan_grid.sh MODEL [TOKENIZER]}
tokenizer=${2:-}
out=${OUT_DIR:-$(mktemp -d /tmp/frugal_plan_grid.XXXXXX)}
rows_filter=${ROWS:-.}
cpu_lock=${CPU_LOCK-/tmp/frugal-cpu.lock}
bigmem_lock=${BIGMEM_LOCK-/tmp/frugal-bigmem.lock}
data=${DATA:-$here/tests/data/datasets/tinyshakespeare/input.txt}
mkdir -p "$out"

# 48 text records of 2,000 characters (~500 tokens each): 8 full 512-token rows and more.
dataset=$out/rows.jsonl
python3 - "$data" "$dataset" <<'EOF'
import json, sys
text = open(sys.argv[1], encoding="utf-8").read()
with open(sys.argv[2], "w") as f:
    for i in range(48):
        f.write(json.dumps({"text": text[i * 2000:(i + 1) * 2000]}) + "\n")
EOF

tok_train=() tok_plan=()
if [[ -n $tokenizer ]]; then tok_train=(--tokenizer "$tokenizer"); tok_plan=(--tokenizer "$tokenizer"); fi

# name | frugal train settings | frugal plan settings
methods=(
  "full fp32|--method full --bf16 false|--method full"
  "LoRA fp32|--method lora --bf16 false|--method lora"
  "LoRA bf16|--method lora --bf16 true|--method lora --mixed-precision"
  "QLoRA NF4 dq bf16|--method lora --load_in_4bit true --bnb_4bit_quant_type nf4 --bnb_4bit_use_double_quant true --bf16 true|--method qlora --weights-dtype nf4 --double-quant --mixed-precision"
)

gib() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1073741824 }'; }
locked() {  # runs "$@" holding the locks asked for, niced
  local big=$1; shift
  local cmd=(nice -n 10 "$@")
  [[ -n $cpu_lock ]] && cmd=(flock "$cpu_lock" "${cmd[@]}")
  [[ $big == 1 && -n $bigmem_lock ]] && cmd=(flock "$bigmem_lock" "${cmd[@]}")
  "${cmd[@]}"
}

available=$(awk '/MemAvailable/ { print $2 * 1024 }' /proc/meminfo)
echo "model: $model${tokenizer:+ (tokenizer $tokenizer)}; runs in $out; MemAvailable $(gib "$available") GiB" >&2
table="| config | predicted peak RSS GiB | measured | error % | predicted tok/s | measured | error % |
| --- | --: | --: | --: | --: | --: | --: |"
for m in "${methods[@]}"; do
  IFS='|' read -r name train_args plan_args <<<"$m"
  for ckpt in false true; do
    for mb in 1 4; do
      row="$name, ckpt $([[ $ckpt == true ]] && echo on || echo off), mb $mb"
      [[ $row =~ $rows_filter ]] || continue
      # shellcheck disable=SC2086
      planned=$("$frugal" plan -m "$model" "${tok_plan[@]}" --profile frugal $plan_args \
        --gradient-checkpointing=$ckpt --micro-batch $mb --seq-len 512 --json | jq '.memory.peak_bytes')
      if awk -v p="$planned" -v a="$available" 'BEGIN { exit !(p > a) }'; then
        table+=$'\n'"| $row | $(gib "$planned") | does not fit (MemAvailable $(gib "$available")) | | | | |"
        echo "$row: planned $(gib "$planned") GiB > MemAvailable, not run" >&2
        continue
      fi
      big=$(awk -v p="$planned" 'BEGIN { print (p > 6e9) ? 1 : 0 }')
      dir=$out/$(echo "$row" | tr -c 'A-Za-z0-9\n' '_')
      rm -rf "$dir"
      echo "$row: running (planned $(gib "$planned") GiB)" >&2
      # shellcheck disable=SC2086
      locked "$big" "$frugal" train --base_model "$model" "${tok_train[@]}" --dataset "$dataset" --output_dir "$dir" \
        --sample_packing true --sequence_len 512 --micro_batch_size $mb --max_steps 2 --logging_steps 1 \
        --gradient_checkpointing $ckpt $train_args >"$dir.log" 2>&1 || { echo "$row: failed, see $dir.log" >&2; exit 1; }
      s=$dir/summary.json
      table+=$'\n'$(jq -r --arg row "$row" '
        def gib: . / 1073741824 * 100 | round / 100;
        def pct: . * 10 | round / 10 | if . == 0 then 0 else . end;  # no "-0"
        "| \($row) | \(.plan.peak_rss_bytes | gib) | \(.peak_rss_bytes | gib) | \(.plan.peak_rss_error_percent | pct) | " +
        "\(.plan.tokens_per_second | round) | \(.plan.measured_training_tokens_per_second | round) | " +
        "\(.plan.tokens_per_second_error_percent | pct) |"' "$s")
    done
  done
done
echo "$table"
