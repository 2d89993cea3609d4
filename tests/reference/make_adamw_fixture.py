#!/usr/bin/env python3
"""Outside-oracle fixture for frugal's AdamW (src/train/optimizer.cpp): torch.optim.AdamW itself.

Two parameter tensors (a [13, 17] matrix and a [37] vector, 258 values, so frugal's segment list and
its vector tails are both exercised) take several AdamW steps with weight decay on and a different
learning rate each step, as a schedule would give. Gradients mix ordinary magnitudes, tiny ones (where
eps matters), large ones and exact zeros. foreach=False selects torch's single-tensor CPU path, the one
frugal mirrors. Two cases: the usual betas, and beta1 = 0.3 (a lerp weight of 0.7 >= 0.5 takes
torch's other lerp formula) with beta2 = 0.95 and a larger eps.

Output: tests/fixtures/train/adamw.json with, per case, the hyperparameters, the initial values, per step
the learning rate and gradients and the values after the step, and the final exp_avg / exp_avg_sq.
Every tensor value is fp32, written as the shortest decimal that reads back (through a double) as
the same fp32 value; the script checks that for each one.

Made with torch 2.15.0 (/opt/frugal-ref/bin/python); the version used is recorded in the file.
Run: /opt/frugal-ref/bin/python tests/reference/make_adamw_fixture.py
"""
import json
from pathlib import Path

import numpy as np
import torch

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "train" / "adamw.json"
SHAPES = [(13, 17), (37,)]


def short(x):
    """The shortest decimal that reads back (as a double, then rounded to fp32) as the same fp32 value:
    about half the bytes of the double's own 17-digit form."""
    f = np.float32(x)
    s = float(str(f))
    assert np.float32(s) == f or (np.isnan(f) and np.isnan(s))
    return s


def flat(tensors):
    return [short(x) for t in tensors for x in t.detach().reshape(-1).tolist()]


def make_grad(gen, shape, step):
    g = torch.randn(shape, generator=gen)
    scale = torch.empty(shape).uniform_(-6, 1, generator=gen)  # magnitudes from 1e-6 to 10
    g = g * torch.pow(10.0, scale)
    g.reshape(-1)[step::11] = 0.0  # some exact zeros, at different places each step
    return g


def run_case(name, lr_per_step, betas, eps, weight_decay, seed):
    gen = torch.Generator().manual_seed(seed)
    params = [torch.nn.Parameter(torch.randn(s, generator=gen) * 0.5) for s in SHAPES]
    initial = flat(params)
    opt = torch.optim.AdamW(params, lr=lr_per_step[0], betas=betas, eps=eps, weight_decay=weight_decay,
                            foreach=False, fused=False)
    steps = []
    for i, lr in enumerate(lr_per_step):
        for group in opt.param_groups:
            group["lr"] = lr
        grads = [make_grad(gen, s, i) for s in SHAPES]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        opt.step()
        steps.append({"lr": lr, "grads": flat(grads), "values_after": flat(params)})
    state = [opt.state[p] for p in params]
    return {
        "name": name,
        "beta1": betas[0], "beta2": betas[1], "epsilon": eps, "weight_decay": weight_decay,
        "segment_sizes": [int(torch.Size(s).numel()) for s in SHAPES],
        "initial_values": initial,
        "steps": steps,
        "final_exp_avg": flat([s["exp_avg"] for s in state]),
        "final_exp_avg_sq": flat([s["exp_avg_sq"] for s in state]),
        "final_step": int(state[0]["step"].item()),
    }


def main():
    torch.set_num_threads(1)
    cases = [
        run_case("default_betas", [1e-3, 8e-4, 6e-4, 5e-4, 3e-4, 1e-4], (0.9, 0.999), 1e-8, 0.1, 1),
        run_case("beta1_0.3", [2e-2, 1e-2, 5e-3, 1e-3], (0.3, 0.95), 1e-6, 0.01, 2),
    ]
    doc = {"generator": "tests/reference/make_adamw_fixture.py", "torch_version": torch.__version__, "cases": cases}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
