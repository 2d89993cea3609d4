#!/usr/bin/env python3
"""PEFT reads the adapter frugal writes: trains a small LoRA adapter with frugal on SmolLM2-135M-Instruct
(the built-in task, 3 steps, r=2 on q/k/v/o so the Q/K rows that GGUF permutes are covered), then
loads it with PEFT onto transformers' model of the same GGUF and records the logits. The C++ test
(tests/model/test_peft_logits.cpp) checks frugal's logits with the same adapter against these, and
that frugal still writes this adapter byte for byte.

Upstream versions used for the committed fixture: transformers 5.23.0, peft 0.21.2, torch 2.15.0.
Usage: /opt/frugal-ref/bin/python tests/reference/make_peft_logits_fixture.py   (after building frugal)
"""
import json
import os
import shutil
import subprocess
import tempfile

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GGUF = os.path.join(ROOT, ".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf")
FRUGAL = os.path.join(ROOT, "build/frugal")
OUT = os.path.join(ROOT, "tests/fixtures/peft_logits")
IDS = [1, 9690, 198, 2683, 314, 253, 5356, 5646, 11173, 3365, 2, 198, 1, 4093, 198, 23959, 451, 3587, 288]


def main():
    work = tempfile.mkdtemp()
    subprocess.run([FRUGAL, "make-dataset", "-o", work, "--train", "64", "--eval", "8"], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([FRUGAL, "train", "--base_model", GGUF, "--dataset", os.path.join(work, "train.jsonl"),
                    "--output_dir", os.path.join(work, "out"), "--lora_r", "2", "--lora_alpha", "4",
                    "--lora_target_modules", "q_proj,k_proj,v_proj,o_proj", "--learning_rate", "1e-2",
                    "--micro_batch_size", "4", "--max_steps", "3", "--bf16", "false"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shutil.rmtree(OUT, ignore_errors=True)
    shutil.copytree(os.path.join(work, "out", "adapter"), os.path.join(OUT, "adapter"))

    torch.set_num_threads(1)
    folder, name = os.path.dirname(GGUF), os.path.basename(GGUF)
    base = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()
    model = PeftModel.from_pretrained(base, os.path.join(OUT, "adapter")).eval()
    with torch.no_grad():
        adapted = model(torch.tensor([IDS])).logits[0]
        with model.disable_adapter():
            plain = model(torch.tensor([IDS])).logits[0]
    columns = list(range(0, 49152, 97))
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump({"ids": IDS, "columns": columns,
                   "logits": [[round(float(v), 6) for v in row[columns]] for row in adapted],
                   "max_change_from_adapter": float((adapted - plain).abs().max())}, f, separators=(",", ":"))
    print("max logit change from the adapter:", float((adapted - plain).abs().max()))
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
