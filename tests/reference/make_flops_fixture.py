#!/usr/bin/env python3
"""FLOPs of one training step counted by PyTorch itself, for frugal's compute model (src/plan/
compute_model.h), which the trainer's MFU figures rest on.

torch.utils.flop_counter.FlopCounterMode counts every matmul PyTorch executes (2mnk each, both
products of a bmm's backward, nothing for elementwise work), here over forward + cross-entropy +
backward of transformers' Llama with stories260K's shape (tests/fixtures/stories260k_hf), eager
attention (so QK^T and PV are counted as the matmuls they are; GQA's keys are repeated to every
query head first, as frugal's count assumes). Weights are random: FLOPs depend on shapes only.

Cases: full fine-tuning, and PEFT LoRA r=8 on all linear projections of the blocks (dropout 0).
Two things PyTorch counts differently from the model, both recorded from PyTorch's own per-module
counts so the test can state them exactly: the rotary embedding's angle product (inv_freq x
positions, a tiny matmul the model leaves out), and under LoRA the first block's attention input
gradients (q/k/v and their LoRA A), which PyTorch skips because nothing before them trains (the
embedding and the norm weights are frozen); the model counts every block alike, as frugal runs it.

Upstream versions used: torch 2.11.0, transformers 4.57.6, peft 0.21.2.
Run: /opt/frugal-ref/bin/python tests/reference/make_flops_fixture.py
"""
import json
from pathlib import Path

import peft
import torch
import transformers
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "tests" / "fixtures" / "stories260k_hf" / "f32_sharded" / "config.json"
OUT = ROOT / "tests" / "fixtures" / "train" / "flops_stories260k.json"
B, T, RANK = 2, 64, 8


def step_flops(model):
    """Total FLOPs of one step and PyTorch's per-module totals (module path suffix -> FLOPs)."""
    ids = torch.randint(0, model.config.vocab_size, (B, T), generator=torch.Generator().manual_seed(0))
    with FlopCounterMode(display=False) as counter:
        out = model(input_ids=ids, labels=ids)
        out.loss.backward()
    per_module = {name: sum(ops.values()) for name, ops in counter.get_flop_counts().items()}
    return counter.get_total_flops(), per_module


def module(per_module, suffix):
    (value,) = [v for k, v in per_module.items() if k.endswith(suffix)]
    return value


def main():
    torch.manual_seed(0)
    config = transformers.LlamaConfig.from_dict(json.loads(CONFIG.read_text()))
    config._attn_implementation = "eager"
    full = transformers.LlamaForCausalLM(config)
    full_flops, full_modules = step_flops(full)

    base = transformers.LlamaForCausalLM(config)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    lora = peft.get_peft_model(base, peft.LoraConfig(r=RANK, lora_alpha=16, lora_dropout=0.0,
                                                      target_modules=targets))
    lora_flops, lora_modules = step_flops(lora)

    result = {
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__},
        "batch": B, "seq_len": T, "lora_r": RANK, "lora_targets": targets,
        "full_step_flops": full_flops,
        "lora_step_flops": lora_flops,
        "rotary_flops": module(full_modules, "model.rotary_emb"),
        "lora_block0_flops": module(lora_modules, "model.layers.0"),
        "lora_block1_flops": module(lora_modules, "model.layers.1"),
    }
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
