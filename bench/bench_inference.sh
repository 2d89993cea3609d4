#!/usr/bin/env bash
# Inference benchmark, frugal vs PyTorch (transformers) side by side on this machine in one run
# (issue 2): SmolLM2-135M-Instruct (the Q4_1 GGUF, dequantized by both), f32 and bf16:
# prompt processing of one prompt of exactly 512 tokens (batch 1) and greedy decode of 128 tokens.
# Runs one at a time, never in parallel.
#
# What is compared (see torch_inference.py): prompt tok/s = 512 / one forward of the prompt (last
# position's logits only, KV cache filled); decode tok/s = decode forwards after the prompt per
# second (frugal: (n-1) / its decode time, from the line `frugal generate` prints on stderr;
# torch: (n-1) / (time from generate()'s first new token to its last)). frugal runs REPEATS separate processes per dtype,
# torch REPEATS measurements after a warm-up in one process per dtype; the medians are compared.
#
# Needs the reference Python environment (tests/reference/setup_reference_env.sh).
# Usage: bench/bench_inference.sh [threads (default: all cores)]
# Env:   REPEATS=3  N_DECODE=128  BENCH_OUT=runs/bench/inference-<time>
#        FRUGAL_REF_PYTHON=/opt/frugal-ref/bin/python
#        FRUGAL_BENCH_SKIP_BUILD=1 (do not run scripts/setup.sh)  FRUGAL_BIN=build/frugal (binary to time)
# Prints a markdown table; the raw JSON lines go to $BENCH_OUT/results.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-$(nproc)}"
repeats="${REPEATS:-3}"
n_decode="${N_DECODE:-128}"
python="${FRUGAL_REF_PYTHON:-/opt/frugal-ref/bin/python}"
frugal="${FRUGAL_BIN:-./build/frugal}"
out="${BENCH_OUT:-runs/bench/inference-$(date -u +%Y%m%dT%H%M%SZ)}"
text="tests/data/datasets/tinyshakespeare/input.txt"
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set on this machine for old OpenBLAS builds; they would
# slow a current PyTorch stack, so they are unset for the Python runs only.
torch_env=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$python")

[ -x "$python" ] || { echo "no reference Python at $python: run tests/reference/setup_reference_env.sh" >&2; exit 1; }
[ -n "${FRUGAL_BENCH_SKIP_BUILD:-}" ] || scripts/setup.sh build frugal >/dev/null
model="$(scripts/fetch_model.sh)"
mkdir -p "$out"
results="$out/results.jsonl"
: > "$results"
prompt="$out/prompt_512_tokens.txt"
"${torch_env[@]}" bench/torch_inference.py --model "$model" --write-prompt "$prompt" --text "$text" \
  --prompt-tokens 512 2>"$out/prompt.log"

{
  echo "# Inference benchmark: SmolLM2-135M-Instruct, 512-token prompt, $n_decode greedy tokens, $threads threads, median of $repeats"
  echo "# $(date -u +%FT%TZ), $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, frugal $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo '+dirty')"
} | tee "$out/header.txt"

for dtype in f32 bf16; do
  for repeat in $(seq 1 "$repeats"); do
    echo "frugal $dtype run $repeat ..." >&2
    log="$out/frugal-$dtype-$repeat.log"
    if "$frugal" generate -m "$model" --prompt-file "$prompt" -n "$n_decode" --ignore-eos --dtype "$dtype" \
        -t "$threads" > /dev/null 2> "$log"; then
      python3 bench/bench_report.py frugal-generate "$dtype" "$repeat" < "$log" | tee -a "$results"
    else
      echo "frugal generate $dtype failed (exit $?), see $log" >&2; tail -n 5 "$log" >&2
    fi
  done
done

echo "torch f32, bf16 ..." >&2
if ! "${torch_env[@]}" bench/torch_inference.py --model "$model" --prompt-file "$prompt" --n-decode "$n_decode" \
    --threads "$threads" --repeats "$repeats" 2> "$out/torch.log" | tee -a "$results"; then
  echo "torch failed, see $out/torch.log:" >&2; tail -n 5 "$out/torch.log" >&2
fi

echo
python3 bench/bench_report.py inference-table "$results" | tee "$out/table.md"
echo
echo "raw results: $results"
