#!/usr/bin/env python3
"""Checks that transformers reads the RoPE scaling frugal writes into an exported config.json: loads
each folder with transformers and compares its fp32 logits, at 4x the original context, with the
fixture transformers made from the source config (tests/fixtures/rope, make_rope_fixtures.py).
The folders are what tests/unit/test_rope_scaling.cpp's ExportedModelsKeepTheScaling writes
(<TempDir>/frugal_rope_<pid>_<type>_export_hf), kept when run with FRUGAL_KEEP_ROPE_EXPORTS=1:
  FRUGAL_KEEP_ROPE_EXPORTS=1 build/tests/frugal_unit_tests --gtest_filter='Types/RopeModel.Exported*'
Result on the committed fixtures: every type 0 difference (transformers computes exactly what it
computed from the source config). Prints the largest difference per type and the
rope_scaling written; exits 1 above --tol.

Checked with transformers 4.57.6, torch 2.11.0.
Usage: /opt/frugal-ref/bin/python tests/reference/check_rope_export.py PREFIX [--tol 1e-4]
       (PREFIX: e.g. /tmp/frugal_rope_1234_, to which "<type>_export_hf" is appended)
"""
import argparse
import json
import os
import sys

import torch
from safetensors.torch import load_file
from transformers import LlamaForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "rope")

ap = argparse.ArgumentParser()
ap.add_argument("prefix")
ap.add_argument("--tol", type=float, default=1e-4)
args = ap.parse_args()
spec = json.load(open(os.path.join(FIXTURE, "models.json")))
expected = load_file(os.path.join(FIXTURE, "expected.safetensors"))
worst_all = 0.0
for rope_type in spec["configs"]:
    folder = f"{args.prefix}{rope_type}_export_hf"
    model = LlamaForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager").eval()
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([spec["prompt"]])).logits[0][spec["positions"]]
    worst = float((logits - expected[f"logits_{rope_type}"]).abs().max())
    worst_all = max(worst_all, worst)
    written = json.load(open(os.path.join(folder, "config.json"))).get("rope_scaling")
    print(f"{rope_type}: max |logit diff| {worst:.3g}; rope_scaling {json.dumps(written)[:120]}")
sys.exit(0 if worst_all <= args.tol else 1)
