#!/usr/bin/env python3
"""Helpers for the side-by-side benchmarks in bench/ (standard library only, any python3):

  bench_report.py text-jsonl TEXT OUT.jsonl [CHARS]
      {"text": ...} records of at least CHARS characters (default 3000, whole lines) cut from TEXT.
      At ~3.5 characters per token that is ~850 tokens, so with sequence_len 512 every record is
      truncated to exactly 512 tokens and every micro-batch holds exactly B x 512 real tokens.
  bench_report.py frugal-train RUN_DIR MODE WARMUP THREADS
      One JSON line, shaped like torch_lora_train.py's, from a `frugal train` output folder
      (metrics.jsonl written every step, summary.json). The first WARMUP steps are left out of
      tokens_per_second, exactly as torch_lora_train.py leaves out its warm-up steps.
  bench_report.py frugal-generate DTYPE REPEAT < STDERR
      One JSON line from the statistics line `frugal generate` prints on stderr.
  bench_report.py train-table RESULTS.jsonl
  bench_report.py inference-table RESULTS.jsonl
      Markdown tables (frugal vs torch, with ratios) from the collected JSON lines.
"""
import json
import os
import re
import statistics
import sys

GIB = 1024.0 ** 3


def text_jsonl(text_path, out_path, chars=3000):
    with open(text_path, encoding="utf-8") as f:
        lines = f.read().splitlines(keepends=True)
    records, current = [], ""
    for line in lines:
        current += line
        if len(current) >= chars:
            records.append(current)
            current = ""
    with open(out_path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps({"text": r}) + "\n")
    print(f"{out_path}: {len(records)} records of >= {chars} characters", file=sys.stderr)


def frugal_train(run_dir, mode, warmup, threads):
    with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)
    with open(os.path.join(run_dir, "config.yaml")) as f:
        config = f.read()
    records = []
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            if "loss" in r:
                records.append(r)
    records.sort(key=lambda r: r["step"])
    if len(records) <= warmup or [r["step"] for r in records] != list(range(1, len(records) + 1)):
        sys.exit(f"{run_dir}/metrics.jsonl: need one line per step (logging_steps 1) and more than {warmup} steps")
    elapsed = [0.0] + [r["elapsed"] for r in records]
    tokens = [0] + [r["tokens"] for r in records]
    step_seconds = [elapsed[i + 1] - elapsed[i] for i in range(len(records))]
    step_tokens = [tokens[i + 1] - tokens[i] for i in range(len(records))]
    timed_seconds = step_seconds[warmup:]
    timed_tokens = sum(step_tokens[warmup:])
    micro = re.search(r"^micro_batch_size: *(\d+)", config, re.M)
    seq = re.search(r"^sequence_len: *(\d+)", config, re.M)
    expected = int(micro.group(1)) * int(seq.group(1)) if micro and seq else None
    out = {
        "engine": "frugal",
        "mode": mode,
        "tokens_per_second": timed_tokens / sum(timed_seconds),
        "peak_rss_bytes": summary["peak_rss_bytes"],
        "step_seconds": [round(s, 4) for s in timed_seconds],
        "loss": [round(r["loss"], 5) for r in records],
        "warmup_steps": warmup,
        "tokens_per_step": sorted(set(step_tokens)),
        "threads": threads,
        "precision": summary.get("precision"),
        "trainable_parameters": summary.get("trainable_parameters"),
        "summary_tokens_per_second_all_steps": summary.get("tokens_per_second"),
    }
    if expected and any(t != expected for t in step_tokens):
        print(f"warning: {run_dir}: steps of {sorted(set(step_tokens))} tokens, expected {expected}", file=sys.stderr)
    print(json.dumps(out), flush=True)


def frugal_generate(dtype, repeat):
    # "prompt: N tokens in S s (X tok/s); generated M tokens in S s (Y tok/s), bf16"
    pattern = re.compile(r"prompt: (\d+) tokens in ([0-9.]+) s \(([0-9.]+) tok/s\); "
                         r"generated (\d+) tokens in ([0-9.]+) s \(([0-9.]+) tok/s\), (\S+)")
    text = sys.stdin.read()
    m = None
    for m in pattern.finditer(text):
        pass
    if not m:
        sys.exit("frugal generate printed no statistics line:\n" + text[-2000:])
    generated = int(m.group(4))
    # frugal times `generated` samples but only generated - 1 decode forwards after the prompt's one:
    # count forwards, as torch_inference.py does ((n - 1) / (time from the first new token to the last)).
    decode_tok_s = float(m.group(6)) * (generated - 1) / generated if generated > 1 else 0.0
    print(json.dumps({"engine": "frugal", "dtype": m.group(7), "requested_dtype": dtype, "repeat": int(repeat),
                      "prompt_tokens": int(m.group(1)), "prompt_tok_s": float(m.group(3)),
                      "decode_tokens": generated, "decode_tok_s": decode_tok_s}), flush=True)


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                rows.append(json.loads(line))
    return rows


def fmt_ratio(a, b):
    return f"{a / b:.2f}x" if a and b else "n/a"


def fmt_rate(v):
    return f"{v:.0f}" if v else "failed"


def fmt_gib(v):
    return f"{v / GIB:.2f} GiB" if v else "failed"


def train_table(path):
    rows = load(path)
    by = {(r["engine"], r["mode"]): r for r in rows if "engine" in r and "mode" in r}
    modes = [m for m in ("fp32", "bf16", "bf16_ckpt", "qlora", "qlora_ckpt") if any(k[1] == m for k in by)]
    print("| mode | frugal tok/s | torch tok/s | ratio | frugal peak RSS | torch peak RSS | ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for m in modes:
        f, t = by.get(("frugal", m), {}), by.get(("torch+peft", m), {})
        ft, tt = f.get("tokens_per_second"), t.get("tokens_per_second")
        fr, tr = f.get("peak_rss_bytes"), t.get("peak_rss_bytes")
        print(f"| {m} | {fmt_rate(ft)} | {fmt_rate(tt)} | {fmt_ratio(ft, tt)} | {fmt_gib(fr)} | {fmt_gib(tr)} | "
              f"{fmt_ratio(fr, tr)} |")

    def best(engine):
        # Issue 3's best-vs-best is over the 16-bit LoRA modes; QLoRA has its own rows above.
        c = [r for (e, m), r in by.items() if e == engine and r.get("tokens_per_second") and not m.startswith("qlora")]
        return max(c, key=lambda r: r["tokens_per_second"]) if c else None

    fb, tb = best("frugal"), best("torch+peft")
    print()
    if fb and tb:
        speed = fb["tokens_per_second"] / tb["tokens_per_second"]
        memory = fb["peak_rss_bytes"] / tb["peak_rss_bytes"]
        ok = speed >= 1.5 and memory <= 0.5
        print(f"Best vs best: frugal {fb['mode']} {fb['tokens_per_second']:.0f} tok/s, "
              f"{fb['peak_rss_bytes'] / GIB:.2f} GiB vs torch+peft {tb['mode']} {tb['tokens_per_second']:.0f} tok/s, "
              f"{tb['peak_rss_bytes'] / GIB:.2f} GiB: {speed:.2f}x the tokens/s at {memory:.2f}x the peak RSS "
              f"(issue 3 floor: >= 1.5x at <= 0.5x: {'met' if ok else 'NOT met'}).")
        fl = min((r for (e, _), r in by.items() if e == "frugal" and r.get("peak_rss_bytes")),
                 key=lambda r: r["peak_rss_bytes"])
        tl = min((r for (e, _), r in by.items() if e == "torch+peft" and r.get("peak_rss_bytes")),
                 key=lambda r: r["peak_rss_bytes"])
        qf, qt = by.get(("frugal", "qlora"), {}), by.get(("frugal", "bf16"), {})
        if qf.get("tokens_per_second") and qt.get("tokens_per_second"):
            print(f"frugal QLoRA vs frugal bf16 LoRA: {qf['tokens_per_second'] / qt['tokens_per_second']:.2f}x the "
                  f"tokens/s (issue 4 floor: >= 0.7x).")
        print(f"Smallest peak RSS: frugal {fl['mode']} {fl['peak_rss_bytes'] / GIB:.2f} GiB vs torch+peft "
              f"{tl['mode']} {tl['peak_rss_bytes'] / GIB:.2f} GiB ({fmt_ratio(fl['peak_rss_bytes'], tl['peak_rss_bytes'])}).")
    else:
        print("Best vs best: not available (a side failed).")


def inference_table(path):
    rows = [r for r in load(path) if "engine" in r and "dtype" in r and "error" not in r]
    print("| dtype | frugal prompt tok/s | torch prompt tok/s | ratio | frugal decode tok/s | torch decode tok/s | ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    ratios = {}
    for d in ("f32", "bf16"):
        f = [r for r in rows if r["engine"] == "frugal" and r.get("requested_dtype", r["dtype"]) == d]
        t = [r for r in rows if r["engine"] == "torch" and r["dtype"] == d]
        if not f and not t:
            continue
        # Median over the repeats (frugal: one process each; torch: repeats inside one process).
        fp = statistics.median(r["prompt_tok_s"] for r in f) if f else None
        fd = statistics.median(r["decode_tok_s"] for r in f) if f else None
        tp, td = (t[0]["prompt_tok_s"], t[0]["decode_tok_s"]) if t else (None, None)
        label = d if not f or f[0]["dtype"] == d else f"{d} (frugal ran {f[0]['dtype']})"
        if fp and tp and fd and td:
            ratios[d] = (fp / tp, fd / td)
        print(f"| {label} | {fmt_rate(fp)} | {fmt_rate(tp)} | {fmt_ratio(fp, tp)} | {fmt_rate(fd)} | {fmt_rate(td)} | "
              f"{fmt_ratio(fd, td)} |")
    if ratios.get("f32") and ratios.get("bf16"):
        f32_ok = min(ratios["f32"]) >= 1.0
        bf16_ok = min(ratios["bf16"]) > 1.0
        print(f"\nIssue 2 floor: f32 not slower than torch f32 (prompt and decode): {'met' if f32_ok else 'NOT met'}; "
              f"bf16 faster than torch bf16: {'yes' if bf16_ok else 'NO'} "
              f"(prompt {ratios['bf16'][0]:.2f}x, decode {ratios['bf16'][1]:.2f}x).")
    prompt_tokens = sorted({r["prompt_tokens"] for r in rows})
    if len(prompt_tokens) > 1:
        print(f"\nwarning: the engines saw different prompt lengths {prompt_tokens} (tokenizers differ?)")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "text-jsonl":
        text_jsonl(args[0], args[1], int(args[2]) if len(args) > 2 else 3000)
    elif cmd == "frugal-train":
        frugal_train(args[0], args[1], int(args[2]), int(args[3]))
    elif cmd == "frugal-generate":
        frugal_generate(args[0], args[1])
    elif cmd == "train-table":
        train_table(args[0])
    elif cmd == "inference-table":
        inference_table(args[0])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
