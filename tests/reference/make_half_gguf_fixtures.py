#!/usr/bin/env python3
"""16-bit GGUF files and what transformers computes on the same 16-bit weights, for the decode
kernel that reads F16 / BF16 weights as stored (src/kernels/half_matvec.h).

From the Llama 3 family fixture (tests/fixtures/families/llama3/hf, random weights, fp32), llama.cpp's
convert_hf_to_gguf.py writes `--outtype f16` and `--outtype bf16` files: it stores the matrices
(embedding included) in 16 bits and keeps 1-D tensors (norms) in F32. transformers then runs the HF
model with exactly those roundings applied to its 2-D weights (torch's round to nearest even, as
the converter's numpy / gguf-py rounding does), in fp32, on the family fixture's three prompts.

Upstream versions used: transformers 4.57.6, torch 2.11.0, llama.cpp's converter and gguf-py as
vendored in llama-cpp-python 0.3.36 (/work/ext/llama_cpp_python-0.3.36/vendor/llama.cpp).

Writes tests/fixtures/families/llama3/:
  model-f16.gguf, model-bf16.gguf
  expected_half.safetensors   f16_logits_{0,1,2}, bf16_logits_{0,1,2}: [T, 512] fp32
Run: /opt/frugal-ref/bin/python tests/reference/make_half_gguf_fixtures.py
"""
import json
import os
import subprocess
import sys

import torch
from safetensors.torch import save_file
from transformers import LlamaForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAMILY = os.path.join(ROOT, "tests", "fixtures", "families", "llama3")
LLAMA_CPP = "/work/ext/llama_cpp_python-0.3.36/vendor/llama.cpp"
CONVERTER = os.path.join(LLAMA_CPP, "convert_hf_to_gguf.py")
GGUF_PY = os.path.join(LLAMA_CPP, "gguf-py")


def convert(outtype):
    out = os.path.join(FAMILY, f"model-{outtype}.gguf")
    env = dict(os.environ, PYTHONPATH=GGUF_PY)
    res = subprocess.run([sys.executable, CONVERTER, os.path.join(FAMILY, "hf"), "--outtype", outtype,
                          "--outfile", out], env=env, capture_output=True, text=True)
    if res.returncode != 0:
        sys.stderr.write(res.stdout + res.stderr)
        raise SystemExit(f"convert_hf_to_gguf.py --outtype {outtype} failed")
    return out


def logits_with_rounded_matrices(dtype, prompts):
    model = LlamaForCausalLM.from_pretrained(os.path.join(FAMILY, "hf"), dtype=torch.float32,
                                             attn_implementation="eager").eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.copy_(p.to(dtype).float())
        return [model(input_ids=torch.tensor([ids])).logits[0].float().contiguous() for ids in prompts]


def main():
    prompts = json.load(open(os.path.join(FAMILY, "expected.json")))["prompts"]
    tensors = {}
    for outtype, dtype in (("f16", torch.float16), ("bf16", torch.bfloat16)):
        convert(outtype)
        for i, logits in enumerate(logits_with_rounded_matrices(dtype, prompts)):
            tensors[f"{outtype}_logits_{i}"] = logits
    save_file(tensors, os.path.join(FAMILY, "expected_half.safetensors"))
    print("wrote", sorted(tensors))


if __name__ == "__main__":
    main()
