#!/usr/bin/env python3
"""PyTorch side of bench/bench_inference.sh: transformers running SmolLM2-135M-Instruct loaded from the
same GGUF file (dequantized), f32 and bf16 weights, on the same prompt as frugal.

What is timed, chosen to match what `frugal generate` times:
- prompt: one forward of the whole prompt filling the KV cache, logits of the last position only
  (logits_to_keep=1, as generate()'s prefill does and as frugal does);
- decode: inside one generate() of n tokens, the time from the first new token to the last, i.e. the
  n - 1 decode forwards (one token each, KV cache) and their greedy sampling, taken by a stopping
  criterion that only records the time; decode_tok_s = (n - 1) / that. (bench_report.py counts
  frugal's decode the same way: forwards after the prompt's.)
One untimed warm-up generate first; then --repeats measurements, the median reported.

Prints one JSON line per dtype:
{"engine": "torch", "dtype": "f32"|"bf16", "prompt_tokens": N, "prompt_tok_s": X, "decode_tokens": M,
 "decode_tok_s": Y, ...}

Usage:
  torch_inference.py --model M.gguf --prompt-file P [--n-decode 128] [--threads N] [--repeats 3] [--dtype f32 bf16]
  torch_inference.py --model M.gguf --write-prompt OUT --text TEXT [--prompt-tokens 512]
      writes the start of TEXT cut so that it tokenizes to exactly --prompt-tokens tokens.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer, StoppingCriteria, StoppingCriteriaList

DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16}


def write_prompt(tok, text_path, out_path, n_tokens):
    with open(text_path, encoding="utf-8") as f:
        text = f.read(n_tokens * 20)
    ids = tok(text, add_special_tokens=False)["input_ids"]
    # Decoding a prefix and encoding it again can merge differently at the cut: look near n_tokens.
    for k in sorted(range(n_tokens - 8, n_tokens + 9), key=lambda k: abs(k - n_tokens)):
        candidate = tok.decode(ids[:k])
        if len(tok(candidate, add_special_tokens=False)["input_ids"]) == n_tokens:
            with open(out_path, "w", encoding="utf-8") as f:
                f.write(candidate)
            return
    sys.exit(f"could not cut {text_path} to exactly {n_tokens} tokens")


class TokenClock(StoppingCriteria):
    """A stopping criterion that never stops: generate() calls it once after each new token, so the
    time between its first and last call is the decode forwards (and sampling) after the prefill."""

    def __init__(self):
        self.times = []

    def __call__(self, input_ids, scores, **kwargs):
        self.times.append(time.perf_counter())
        return torch.zeros(input_ids.shape[0], dtype=torch.bool)


def measure(model, tok, ids, n_decode):
    t0 = time.perf_counter()
    model(ids, use_cache=True, logits_to_keep=1)
    prompt_s = time.perf_counter() - t0
    clock = TokenClock()
    out = model.generate(ids, max_new_tokens=n_decode, min_new_tokens=n_decode, do_sample=False, eos_token_id=None,
                         pad_token_id=tok.eos_token_id, stopping_criteria=StoppingCriteriaList([clock]))
    decoded = out.shape[1] - ids.shape[1]
    steps = len(clock.times) - 1  # decode forwards timed
    return ids.shape[1] / prompt_s, steps / max(clock.times[-1] - clock.times[0], 1e-9), decoded


def main():
    p = argparse.ArgumentParser(description="transformers side of bench/bench_inference.sh")
    p.add_argument("--model", required=True)
    p.add_argument("--prompt-file")
    p.add_argument("--n-decode", type=int, default=128)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--dtype", nargs="+", choices=list(DTYPES), default=["f32", "bf16"])
    p.add_argument("--write-prompt", metavar="OUT")
    p.add_argument("--text")
    p.add_argument("--prompt-tokens", type=int, default=512)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    transformers.logging.set_verbosity_error()
    folder, name = os.path.dirname(os.path.abspath(a.model)), os.path.basename(a.model)
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    if a.write_prompt:
        if not a.text:
            p.error("--write-prompt needs --text")
        write_prompt(tok, a.text, a.write_prompt, a.prompt_tokens)
        return
    if not a.prompt_file or a.n_decode < 2 or a.repeats < 1:
        p.error("--prompt-file, --n-decode >= 2 and --repeats >= 1 are needed")
    with open(a.prompt_file, encoding="utf-8") as f:
        ids = torch.tensor([tok(f.read(), add_special_tokens=False)["input_ids"]])
    for dtype_name in a.dtype:
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=DTYPES[dtype_name]).eval()
        with torch.inference_mode():
            model.generate(ids[:, :64], max_new_tokens=8, min_new_tokens=8, do_sample=False, eos_token_id=None,
                           pad_token_id=tok.eos_token_id)  # warm-up
            runs = [measure(model, tok, ids, a.n_decode) for _ in range(a.repeats)]
        print(json.dumps({
            "engine": "torch", "dtype": dtype_name, "prompt_tokens": ids.shape[1],
            "prompt_tok_s": statistics.median(r[0] for r in runs), "decode_tokens": runs[0][2],
            "decode_tok_s": statistics.median(r[1] for r in runs),
            "prompt_tok_s_all": [round(r[0], 1) for r in runs], "decode_tok_s_all": [round(r[1], 2) for r in runs],
            "threads": a.threads,
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        }), flush=True)
        del model


if __name__ == "__main__":
    main()
