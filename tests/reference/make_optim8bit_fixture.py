#!/usr/bin/env python3
"""Outside-oracle fixture for frugal's 8-bit AdamW and SGD (src/train/optimizer_8bit.cpp, optimizer_sgd.cpp):
bitsandbytes' AdamW8bit on its CPU backend, and torch.optim.SGD itself.

AdamW8bit: two parameters, a [9, 500] matrix (4500 values: over bitsandbytes' min_8bit_size of 4096, so
its moments are blockwise 8-bit, 17 blocks of 256 and a partial last block of 148) and a [37] vector
(under min_8bit_size: bitsandbytes keeps its moments in fp32 and uses its 32-bit Adam). Five steps, a
different learning rate each (as a schedule gives), weight decay on. Gradients mix ordinary, tiny and large
magnitudes and exact zeros; the matrix's first block gets zero gradients throughout (an all-zero block of
the moments: absmax 0). Recorded per step: the gradients, the values after the step, the 8-bit codes
(state1 with the signed dynamic map, state2 with the unsigned one) and their per-block absmax, and the
vector's fp32 moments.

SGD: a [13, 17] matrix and a [37] vector, five steps, in three cases: plain, momentum 0.9 with weight decay
0.01, and weight decay 0.1 without momentum (dampening 0, nesterov off; foreach=False, torch's
single-tensor path). Recorded per step: gradients and the values after the step, and the final momentum.

Output: tests/fixtures/train/optim8bit.safetensors (every array under a descriptive name, metadata holds
the hyperparameters and versions). Made with torch 2.11.0 and bitsandbytes 0.50.2 (/opt/frugal-ref/bin/python);
the versions used are recorded in the file's metadata.
Run: /opt/frugal-ref/bin/python tests/reference/make_optim8bit_fixture.py
"""
import json
from pathlib import Path

import bitsandbytes as bnb
import torch
from safetensors.torch import save_file

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "train" / "optim8bit.safetensors"


def make_grad(gen, shape, step):
    g = torch.randn(shape, generator=gen)
    scale = torch.empty(shape).uniform_(-6, 1, generator=gen)  # magnitudes from 1e-6 to 10
    g = g * torch.pow(10.0, scale)
    g.reshape(-1)[step::11] = 0.0  # some exact zeros, at different places each step
    return g


def adamw8bit(tensors, meta):
    shapes = [(9, 500), (37,)]
    lrs = [1e-3, 2e-3, 3e-3, 2.5e-3, 1e-3]
    betas, eps, wd = (0.9, 0.999), 1e-8, 0.01
    gen = torch.Generator().manual_seed(1234)
    params = [torch.nn.Parameter(torch.randn(s, generator=gen) * 0.5) for s in shapes]
    for i, p in enumerate(params):
        tensors[f"adam8.initial.{i}"] = p.detach().clone().reshape(-1)
    opt = bnb.optim.AdamW8bit(params, lr=lrs[0], betas=betas, eps=eps, weight_decay=wd)
    for step, lr in enumerate(lrs):
        for group in opt.param_groups:
            group["lr"] = lr
        for i, (p, s) in enumerate(zip(params, shapes)):
            g = make_grad(gen, s, step)
            if i == 0:
                g.reshape(-1)[:256] = 0.0  # block 0 of the moments stays all zero
            p.grad = g
            tensors[f"adam8.step{step}.grad.{i}"] = g.clone().reshape(-1)
        opt.step()
        big, small = (opt.state[p] for p in params)
        assert big["state1"].dtype == torch.uint8 and small["state1"].dtype == torch.float32
        for i, p in enumerate(params):
            tensors[f"adam8.step{step}.values.{i}"] = p.detach().clone().reshape(-1)
        for k in ("state1", "state2", "absmax1", "absmax2"):
            tensors[f"adam8.step{step}.{k}.0"] = big[k].clone().reshape(-1)
        tensors[f"adam8.step{step}.exp_avg.1"] = small["state1"].clone().reshape(-1)
        tensors[f"adam8.step{step}.exp_avg_sq.1"] = small["state2"].clone().reshape(-1)
    tensors["adam8.qmap1"] = opt.name2qmap["dynamic"].clone()
    tensors["adam8.qmap2"] = opt.name2qmap["udynamic"].clone()
    meta["adam8"] = {"lrs": lrs, "beta1": betas[0], "beta2": betas[1], "epsilon": eps, "weight_decay": wd,
                     "steps": len(lrs), "sizes": [4500, 37], "blocksize": 256, "min_8bit_size": 4096}


def sgd(tensors, meta):
    shapes = [(13, 17), (37,)]
    lrs = [0.1, 0.05, 0.2, 0.01, 0.1]
    cases = [("plain", 0.0, 0.0), ("momentum", 0.9, 0.01), ("decay", 0.0, 0.1)]
    meta["sgd"] = {"lrs": lrs, "steps": len(lrs), "sizes": [13 * 17, 37],
                   "cases": [{"name": n, "momentum": m, "weight_decay": wd} for n, m, wd in cases]}
    for name, momentum, wd in cases:
        gen = torch.Generator().manual_seed(99)
        params = [torch.nn.Parameter(torch.randn(s, generator=gen) * 0.5) for s in shapes]
        for i, p in enumerate(params):
            tensors[f"sgd.{name}.initial.{i}"] = p.detach().clone().reshape(-1)
        opt = torch.optim.SGD(params, lr=lrs[0], momentum=momentum, weight_decay=wd, dampening=0, nesterov=False,
                              foreach=False)
        for step, lr in enumerate(lrs):
            for group in opt.param_groups:
                group["lr"] = lr
            for i, (p, s) in enumerate(zip(params, shapes)):
                p.grad = make_grad(gen, s, step)
                tensors[f"sgd.{name}.step{step}.grad.{i}"] = p.grad.clone().reshape(-1)
            opt.step()
            for i, p in enumerate(params):
                tensors[f"sgd.{name}.step{step}.values.{i}"] = p.detach().clone().reshape(-1)
        if momentum:
            for i, p in enumerate(params):
                tensors[f"sgd.{name}.momentum_buffer.{i}"] = opt.state[p]["momentum_buffer"].clone().reshape(-1)


def main():
    torch.set_num_threads(1)
    tensors, meta = {}, {"torch": torch.__version__, "bitsandbytes": bnb.__version__}
    adamw8bit(tensors, meta)
    sgd(tensors, meta)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(OUT), metadata={"cases": json.dumps(meta)})
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(tensors)} arrays): {json.dumps(meta)}")


if __name__ == "__main__":
    main()
