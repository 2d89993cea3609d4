#!/usr/bin/env python3
"""Checks a Hugging Face folder that frugal wrote (`frugal merge ... -o DIR --format hf`) by loading it
with transformers and comparing its fp32 logits with a reference fixture made from the source model
(tests/fixtures/<model>/reference.json, make_gguf_fixtures.py): the folder's config.json and tensor
names must mean to transformers what they meant to frugal (family, norm offsets, sliding windows,
RoPE bases, attention scale). Prints the largest logit difference per prompt; exits 1 above --tol.

Checked with transformers 4.57.6, torch 2.11.0.
Usage: /opt/frugal-ref/bin/python tests/reference/check_hf_export.py DIR FIXTURE.json [--tol 1e-3]
"""
import argparse
import json
import sys

import torch
from transformers import AutoModelForCausalLM

ap = argparse.ArgumentParser()
ap.add_argument("dir")
ap.add_argument("fixture")
ap.add_argument("--tol", type=float, default=1e-3)
args = ap.parse_args()
ref = json.load(open(args.fixture))
model = AutoModelForCausalLM.from_pretrained(args.dir, torch_dtype=torch.float32).eval()
worst = 0.0
for case in ref["cases"]:
    ids = torch.tensor([case["ids"]])
    with torch.no_grad():
        logits = model(ids).logits[0]
    cols = torch.tensor(ref["columns"])
    got = logits[:, cols]
    want = torch.tensor(case["logits"])
    err = (got - want).abs().max().item()
    top1 = (logits.argmax(-1) == torch.tensor(case["top1"])).all().item()
    print(f"{case['text'][:40]!r}: max |logit diff| {err:.2e}, top-1 equal at every position: {top1}")
    worst = max(worst, err)
print(f"worst {worst:.2e} (tolerance {args.tol})")
sys.exit(0 if worst <= args.tol else 1)
