#!/usr/bin/env bash
# Data-parallel benchmark (issue 6) on this machine, in one invocation:
#  1. 1 rank x 2 threads vs 2 ranks x 1 thread, the same global batch (2 rows of 512 packed tokens
#     per optimizer step), for LoRA (r 8, all linear layers) and full fine-tuning of SmolLM2-135M:
#     tokens/s of the training steps, per-rank peak RSS, time in collectives per step;
#  2. full fine-tuning with 2 ranks at ZeRO stages 0-3: per-rank peak RSS next to the planner's
#     prediction (frugal profile), and the bytes each rank contributes to collectives per step.
# Run on a quiet machine (2-thread OpenMP barriers and two ranks on two cores suffer under load).
# usage: bench/bench_data_parallel.sh [model.gguf] [steps]
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf}
steps=${2:-4}
frugal=build/frugal
work=$(mktemp -d /tmp/frugal-bench-dp.XXXXXX)
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

python3 - "$work/rows.jsonl" <<'PY'
import json, sys
text = open("tests/data/datasets/tinyshakespeare/input.txt").read()
with open(sys.argv[1], "w") as f:
    for i in range(64):
        f.write(json.dumps({"text": text[i * 2000:(i + 1) * 2000]}) + "\n")
PY
common=(--base_model "$model" --dataset "$work/rows.jsonl" --sample_packing true --sequence_len 512
        --max_steps "$steps" --bf16 true --lr_scheduler constant)

# run <name> <ranks> <threads> <micro_batch> [extra options...]
run() {
  local name=$1 ranks=$2 threads=$3 mb=$4
  shift 4
  local launcher=()
  [ "$ranks" -gt 1 ] && launcher=(mpirun --bind-to none -np "$ranks")
  "${launcher[@]}" "$frugal" train "${common[@]}" --threads "$threads" --micro_batch_size "$mb" \
    --output_dir "$work/$name" "$@" >"$work/$name.log" 2>&1 || { tail -5 "$work/$name.log"; exit 1; }
}

run lora_1x2 1 2 2 --method lora
run lora_2x1 2 1 1 --method lora
run full_1x2 1 2 2 --method full
for stage in 0 1 2 3; do run full_2x1_zero$stage 2 1 1 --method full --zero_stage "$stage"; done

python3 - "$work" "$steps" <<'PY'
import json, sys
work, steps = sys.argv[1], int(sys.argv[2])
def s(name):
    return json.load(open(f"{work}/{name}/summary.json"))
def gib(b):
    return b / 2**30
print("## 1 rank x 2 threads vs 2 ranks x 1 thread (SmolLM2-135M, 2 x 512 tokens per step, bf16 matmuls)\n")
print("| method | layout | training tokens/s | peak RSS per rank (GiB) | collectives s/step (rank 0) | MB sent per step (rank 0) |")
print("| --- | --- | ---: | ---: | ---: | ---: |")
for method in ("lora", "full"):
    base = None
    for layout, name in (("1 x 2", f"{method}_1x2"), ("2 x 1", f"{method}_2x1" if method == "lora" else "full_2x1_zero0")):
        j = s(name)
        tps = j["plan"]["measured_training_tokens_per_second"]
        base = base or tps
        comm = j.get("communication_seconds", 0) / steps
        sent = j.get("communication_bytes", 0) / steps / 1e6
        print(f"| {method} | {layout} | {tps:.0f} ({tps / base:.2f}x) | {gib(j['peak_rss_bytes']):.2f} | {comm:.2f} | {sent:.0f} |")
print("\n## Full fine-tuning, 2 ranks x 1 thread: per-rank peak RSS by ZeRO stage\n")
print("| ZeRO stage | measured peak RSS per rank (GiB) | planned (GiB) | error | MB sent per step (rank 0) | training tokens/s |")
print("| ---: | ---: | ---: | ---: | ---: | ---: |")
for stage in range(4):
    j = s(f"full_2x1_zero{stage}")
    p = j["plan"]
    print(f"| {stage} | {gib(j['peak_rss_bytes']):.2f} | {gib(p['peak_rss_bytes']):.2f} | {p['peak_rss_error_percent']:+.1f}% | "
          f"{j['communication_bytes'] / steps / 1e6:.0f} | {p['measured_training_tokens_per_second']:.0f} |")
PY
