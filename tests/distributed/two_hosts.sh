#!/usr/bin/env bash
# Issue 6: a genuinely multi-host run. Two hosts are made as network namespaces joined by a veth
# pair (10.77.<n>.1 and .2); mpirun runs on the first, starts a rank on each (through
# netns_agent.sh in place of ssh), and Open MPI's TCP transport carries every collective over the
# link. The 2-host x micro-batch-2 run must equal one process with micro-batch 4: per-step losses
# and final trainable values within fp32 noise. Needs root (ip netns); bounded by `timeout`.
# usage: two_hosts.sh <frugal binary> <test data folder (tests/data)> [method] [zero_stage]
set -uo pipefail
frugal=$(readlink -f "$1")
data=$2
method=${3:-lora}
stage=${4:-1}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/frugal-two-hosts.XXXXXX)
id=$$
h0=frugal-h0-$id h1=frugal-h1-$id
net=10.77.$((id % 250))
cleanup() {
  ip netns del "$h0" 2>/dev/null
  ip netns del "$h1" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "two_hosts: $*" >&2; [ -f "$work/log" ] && tail -30 "$work/log" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "needs root for ip netns"

ip netns add "$h0" && ip netns add "$h1" || fail "cannot create network namespaces"
ip link add "v0-$id" type veth peer name "v1-$id" || fail "cannot create a veth pair"
ip link set "v0-$id" netns "$h0" && ip link set "v1-$id" netns "$h1"
ip -n "$h0" addr add "$net.1/24" dev "v0-$id" && ip -n "$h1" addr add "$net.2/24" dev "v1-$id"
for h in "$h0" "$h1"; do ip -n "$h" link set lo up; done
ip -n "$h0" link set "v0-$id" up && ip -n "$h1" link set "v1-$id" up

for i in $(seq 1 24); do echo "{\"text\": \"Lily saw $i big red balls in the park and $((i % 5)) dogs.\"}"; done >"$work/data.jsonl"
common=(--base_model "$data/stories260K/stories260K.bin" --tokenizer "$data/stories260K/tok512.bin"
        --dataset "$work/data.jsonl" --method "$method" --lora_r 4 --learning_rate 5e-3 --lr_scheduler constant
        --max_steps 4 --bf16 false --threads 1)

"$frugal" train "${common[@]}" --micro_batch_size 4 --output_dir "$work/one" >"$work/log" 2>&1 ||
  fail "the single-process run failed"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
start=$(date +%s)
timeout 120 ip netns exec "$h0" mpirun --host "$net.1:1,$net.2:1" -np 2 --bind-to none \
  --mca plm_rsh_agent "$here/netns_agent.sh" --mca btl tcp,self --mca btl_tcp_if_include "$net.0/24" \
  --mca oob_tcp_if_include "$net.0/24" -x OMPI_ALLOW_RUN_AS_ROOT -x OMPI_ALLOW_RUN_AS_ROOT_CONFIRM \
  "$frugal" train "${common[@]}" --micro_batch_size 2 --zero_stage "$stage" --output_dir "$work/two" \
  >"$work/log" 2>&1 || fail "the two-host run failed (exit $?)"
echo "two_hosts: 2 hosts ($net.1, $net.2), $method, ZeRO stage $stage: $(($(date +%s) - start)) s"
grep "data parallel" "$work/log"
grep -q "netns_agent: starting .* for $net.2 in network namespace $h1" "$work/log" ||
  fail "the second host's rank was not started in its namespace"

python3 - "$work/one" "$work/two" <<'PY' || fail "the runs differ"
import json, struct, sys
def losses(d):
    return [json.loads(l)["loss"] for l in open(d + "/metrics.jsonl") if '"loss"' in l]
def values(d):
    ckpt = d + "/" + open(d + "/latest").read().strip()
    raw = open(ckpt + "/trainable.safetensors", "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    t = json.loads(raw[8:8 + n])["values"]
    a, b = t["data_offsets"]
    return struct.unpack("<%df" % ((b - a) // 4), raw[8 + n + a:8 + n + b])
one, two = sys.argv[1], sys.argv[2]
l1, l2 = losses(one), losses(two)
print("losses, one process:", [round(x, 6) for x in l1])
print("losses, two hosts:  ", [round(x, 6) for x in l2])
assert len(l1) == len(l2) == 4, (l1, l2)
assert all(abs(a - b) <= 1e-5 * abs(a) for a, b in zip(l1, l2)), "losses differ"
v1, v2 = values(one), values(two)
largest = max(abs(x) for x in v1)
diff = max(abs(a - b) for a, b in zip(v1, v2))
print("final values: max difference %.3g of largest %.3g" % (diff, largest))
assert len(v1) == len(v2) and diff <= 1e-4 * largest, "final values differ"
PY
echo "two_hosts: ok"
