#!/usr/bin/env python3
"""PyTorch side of bench/bench_inference.sh: transformers running SmolLM2-135M-Instruct loaded from the
same GGUF file, fp32 and bf16, on the same prompt. Prints one JSON line per dtype:
{"engine": "torch", "dtype": ..., "prompt_tokens": N, "prompt_tok_s": X, "decode_tokens": M, "decode_tok_s": Y}
Usage: torch_inference.py MODEL.gguf PROMPT_FILE N_DECODE THREADS
"""
import json
import os
import sys
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def main():
    gguf, prompt_file, n_decode, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    folder, name = os.path.dirname(os.path.abspath(gguf)), os.path.basename(gguf)
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    ids = torch.tensor([tok(open(prompt_file).read(), add_special_tokens=False)["input_ids"]])
    for dtype in (torch.float32, torch.bfloat16):
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=dtype).eval()
        with torch.inference_mode():
            model(ids[:, :16])  # warm-up
            t0 = time.perf_counter()
            model(ids)
            prompt_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            out = model.generate(ids, max_new_tokens=n_decode, min_new_tokens=n_decode, do_sample=False,
                                 pad_token_id=tok.eos_token_id)
            total_s = time.perf_counter() - t0
        decoded = out.shape[1] - ids.shape[1]
        # generate() re-runs the prompt first; subtract it to get the decode rate.
        decode_s = max(total_s - prompt_s, 1e-9)
        print(json.dumps({"engine": "torch", "dtype": str(dtype).replace("torch.", ""), "prompt_tokens": ids.shape[1],
                          "prompt_tok_s": ids.shape[1] / prompt_s, "decode_tokens": decoded,
                          "decode_tok_s": decoded / decode_s}), flush=True)
        del model


if __name__ == "__main__":
    main()
