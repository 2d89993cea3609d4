#!/usr/bin/env bash
# Issue 6, failure: kill rank 1 of a 2-rank training run with SIGKILL after it has saved checkpoints.
# The job must end non-zero within 60 s with the dead rank named, the last checkpoint must be intact,
# and the run must resume from it.
# usage: kill_rank.sh <frugal binary> <test data folder (tests/data)>
set -uo pipefail
frugal=$1
data=$2
work=$(mktemp -d /tmp/frugal-kill-rank.XXXXXX)
mpi_pid=""
# Only a running launcher is killed: `kill 0` would end this whole process group (ctest included).
trap 'if [ -n "$mpi_pid" ]; then kill -9 "$mpi_pid" 2>/dev/null; fi; rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
fail() { echo "kill_rank: $*" >&2; [ -f "$work/log" ] && tail -20 "$work/log" >&2; exit 1; }

for i in $(seq 1 40); do echo "{\"text\": \"Tom had a little dog named Max number $i.\"}"; done >"$work/data.jsonl"
args=(--base_model "$data/stories260K/stories260K.bin" --tokenizer "$data/stories260K/tok512.bin"
      --dataset "$work/data.jsonl" --method full --zero_stage 2 --micro_batch_size 2 --lr_scheduler constant
      --save_steps 5 --threads 1 --bf16 false --output_dir "$work/out")

mpirun --bind-to none -np 2 "$frugal" train "${args[@]}" --max_steps 1000000 >"$work/log" 2>&1 &
mpi_pid=$!
for _ in $(seq 1 600); do [ -d "$work/out/checkpoint-10" ] && break; sleep 0.1; done
[ -d "$work/out/checkpoint-10" ] || fail "no checkpoint-10 after 60 s"

victim=""
for pid in $(pgrep -f -- "--output_dir $work/out"); do
  [ "$pid" = "$mpi_pid" ] && continue
  if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1'; then victim=$pid; fi
done
[ -n "$victim" ] || fail "rank 1's process not found"
start=$(date +%s%N)
kill -9 "$victim"
wait "$mpi_pid"
rc=$?
mpi_pid=""
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
echo "kill_rank: job ended with exit code $rc ${elapsed_ms} ms after rank 1 (pid $victim) was killed"
[ "$rc" -ne 0 ] || fail "the job exited 0 after a rank was killed"
[ "$elapsed_ms" -lt 60000 ] || fail "the job took ${elapsed_ms} ms to end"
grep -q "rank 1" "$work/log" || fail "the output does not name rank 1"
grep "rank 1" "$work/log" | head -2

latest=$(cat "$work/out/latest") || fail "no latest checkpoint"
step=${latest##*checkpoint-}
echo "kill_rank: last checkpoint $latest (step $step); resuming for 3 more steps"
mpirun --bind-to none -np 2 "$frugal" train "${args[@]}" --max_steps $((step + 3)) \
  --resume_from_checkpoint latest >"$work/log" 2>&1 || fail "resuming failed"
grep -q "resumed from .*checkpoint-$step at step $step" "$work/log" || fail "did not resume from step $step"
[ -d "$work/out/checkpoint-$((step + 3))" ] || fail "no checkpoint after resuming"
echo "kill_rank: ok"
