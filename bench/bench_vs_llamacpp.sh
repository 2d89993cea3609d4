#!/usr/bin/env bash
# Decode and prompt throughput, frugal vs llama.cpp (llama-bench) on the same GGUF files, one
# invocation, one tool at a time (issue 12). llama.cpp is built once from PyPI's llama-cpp-python
# source package into .cache/ (bench/build_llamacpp.sh); never part of CI or of frugal.
#
# Files: SmolLM2-135M-Instruct Q4_1 (as shipped), its Q8_0 and F16 made with llama-quantize, and the
# Gemma-3-270M and Qwen2.5-Coder-0.5B Q4_K_M files when scripts/fetch_model.sh has them.
# Tests, as llama-bench defines them (random tokens): pp512, tg128 at depth 0 and 512, 1 and 2 threads;
# then tg128 at depth 512 with 2 threads again while one competing single-threaded process spins.
#
# Usage: bench/bench_vs_llamacpp.sh            Env: REPS=3  BENCH_OUT=runs/bench/vs-llamacpp-<time>
#        FRUGAL_BENCH_SKIP_BUILD=1  MODELS="a.gguf b.gguf" (instead of the default list)
# Prints a markdown table with ratios (frugal / llama.cpp); raw JSON lines go to $BENCH_OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
reps="${REPS:-3}"
out="${BENCH_OUT:-runs/bench/vs-llamacpp-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"
bin="$(bench/build_llamacpp.sh llama-bench llama-quantize)"
[ -n "${FRUGAL_BENCH_SKIP_BUILD:-}" ] || scripts/setup.sh build frugal >/dev/null
frugal=./build/frugal

if [ -n "${MODELS:-}" ]; then
  read -r -a models <<<"$MODELS"
else
  base="$(scripts/fetch_model.sh smollm2)"
  variants=".cache/bench-models"
  mkdir -p "$variants"
  for type in Q8_0 F16; do
    f="$variants/SmolLM2-135M-Instruct.$type.gguf"
    if [ ! -f "$f" ]; then
      "$bin/llama-quantize" --allow-requantize "$base" "$f.tmp" "$type" >"$out/quantize-$type.log" 2>&1
      mv "$f.tmp" "$f"
    fi
  done
  models=("$base" "$variants/SmolLM2-135M-Instruct.Q8_0.gguf" "$variants/SmolLM2-135M-Instruct.F16.gguf")
  for m in .cache/models/gemma-3-270m-Q4_K_M.gguf .cache/models/qwen2.5-coder-0.5b-instruct-Q4_K_M.gguf; do
    [ -f "$m" ] && models+=("$m")
  done
fi

llama_jsonl="$out/llama-bench.jsonl"
frugal_jsonl="$out/frugal-bench.jsonl"
: >"$llama_jsonl"
: >"$frugal_jsonl"
tag() { python3 -c 'import json,sys; [print(json.dumps({**json.loads(l), "file": sys.argv[1], "busy": sys.argv[2] == "1"})) for l in sys.stdin if l.strip().startswith("{")]' "$1" "$2"; }

spin_pid=""
start_spinner() { bash -c 'while :; do :; done' & spin_pid=$!; }
stop_spinner() { [ -z "$spin_pid" ] || kill "$spin_pid" 2>/dev/null || true; wait "$spin_pid" 2>/dev/null || true; spin_pid=""; }
trap stop_spinner EXIT

for m in "${models[@]}"; do
  echo "== $m" >&2
  "$bin/llama-bench" -m "$m" -p 512 -n 128 -d 0,512 -t 1,2 -r "$reps" -o jsonl 2>>"$out/llama-bench.log" | tag "$m" 0 >>"$llama_jsonl"
  "$frugal" bench -m "$m" -p 512 -n 128 -d 0,512 --thread-counts 1,2 -r "$reps" --json 2>>"$out/frugal-bench.log" | tag "$m" 0 >>"$frugal_jsonl"
  start_spinner
  "$bin/llama-bench" -m "$m" -p 0 -n 128 -d 512 -t 2 -r "$reps" -o jsonl 2>>"$out/llama-bench.log" | tag "$m" 1 >>"$llama_jsonl"
  "$frugal" bench -m "$m" -p 0 -n 128 -d 512 --thread-counts 2 -r "$reps" --json 2>>"$out/frugal-bench.log" | tag "$m" 1 >>"$frugal_jsonl"
  stop_spinner
done

python3 - "$llama_jsonl" "$frugal_jsonl" <<'PY' | tee "$out/table.md"
import json, os, sys
def load(path, llama):
    rows = {}
    for line in open(path):
        r = json.loads(line)
        if llama:
            kind = "pp" if r["n_gen"] == 0 else "tg"
            key = (r["file"], kind, r["n_prompt"] or r["n_gen"], r["n_depth"], r["n_threads"], r["busy"])
            rows[key] = (r["avg_ts"], r["stddev_ts"])
        else:
            key = (r["file"], r["test"], r["n"], r["depth"], r["threads"], r["busy"])
            rows[key] = (r["tokens_per_second"], r["stddev"])
    return rows
llama, frugal = load(sys.argv[1], True), load(sys.argv[2], False)
print("| file | test | threads | competing process | llama.cpp t/s | frugal t/s | frugal / llama.cpp |")
print("| --- | --- | ---: | --- | ---: | ---: | ---: |")
for key in sorted(llama, key=lambda k: (k[0], k[5], k[1], k[3], k[4])):
    if key not in frugal: continue
    f, kind, n, depth, threads, busy = key
    (lt, ls), (ft, fs) = llama[key], frugal[key]
    test = f"{kind}{n}" + (f" @ d{depth}" if depth else "")
    print(f"| {os.path.basename(f)} | {test} | {threads} | {'yes' if busy else 'no'} | {lt:.1f} ± {ls:.1f} | {ft:.1f} ± {fs:.1f} | {ft / lt:.2f}x |")
# Throughput kept under a competing process, relative to the same test idle.
print()
print("| file | test | llama.cpp busy / idle | frugal busy / idle |")
print("| --- | --- | ---: | ---: |")
for key in sorted(llama):
    f, kind, n, depth, threads, busy = key
    idle = (f, kind, n, depth, threads, False)
    if not busy or idle not in llama or key not in frugal or idle not in frugal: continue
    print(f"| {os.path.basename(f)} | {kind}{n} @ d{depth}, {threads} threads | {llama[key][0] / llama[idle][0]:.2f} | {frugal[key][0] / frugal[idle][0]:.2f} |")
PY
echo "raw results: $out" >&2
