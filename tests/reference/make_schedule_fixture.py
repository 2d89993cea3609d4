#!/usr/bin/env python3
"""Outside-oracle fixture for frugal's learning-rate schedules (src/train/schedule.cpp).

Rates come from transformers' get_constant_schedule_with_warmup, get_linear_schedule_with_warmup and
get_cosine_schedule_with_warmup (default num_cycles 0.5) driving a real torch optimizer: for each update
we record the rate the optimizer holds when it steps (scheduler.get_last_lr() before optimizer.step()),
then call scheduler.step(), as the transformers Trainer does. Cases cover no warmup, warmup, warmup
longer than the run, a one-step run, and steps past the end.

Output: tests/fixtures/train/schedule.json, per case the schedule, peak lr, warmup and total steps and
the rate of every update (as Python floats, i.e. exact doubles).

Made with transformers 5.23.0 and torch 2.15.0 (/opt/frugal-ref/bin/python); the versions used are
recorded in the file.
Run: /opt/frugal-ref/bin/python tests/reference/make_schedule_fixture.py
"""
import json
from pathlib import Path

import torch
import transformers
from transformers import (get_constant_schedule_with_warmup, get_cosine_schedule_with_warmup,
                          get_linear_schedule_with_warmup)

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "train" / "schedule.json"

CASES = [  # (schedule, peak lr, warmup, total, updates recorded)
    ("constant", 2e-4, 0, 20, 20),
    ("constant", 1e-3, 7, 20, 25),
    ("linear", 2e-4, 0, 50, 55),
    ("linear", 3e-4, 10, 100, 105),
    ("linear", 1e-4, 30, 20, 35),
    ("linear", 1e-4, 0, 1, 3),
    ("cosine", 2e-4, 0, 50, 55),
    ("cosine", 5e-5, 10, 100, 105),
    ("cosine", 2e-4, 13, 997, 1000),
    ("cosine", 1e-4, 30, 20, 35),
    ("cosine", 1e-4, 1, 2, 4),
]


def rates(schedule, peak, warmup, total, count):
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=peak)
    if schedule == "constant":
        sched = get_constant_schedule_with_warmup(opt, warmup)
    elif schedule == "linear":
        sched = get_linear_schedule_with_warmup(opt, warmup, total)
    else:
        sched = get_cosine_schedule_with_warmup(opt, warmup, total)
    out = []
    for _ in range(count):
        out.append(float(sched.get_last_lr()[0]))
        opt.step()
        sched.step()
    return out


def main():
    cases = [{"schedule": s, "peak_lr": lr, "warmup_steps": w, "total_steps": t, "rates": rates(s, lr, w, t, n)}
             for s, lr, w, t, n in CASES]
    doc = {"generator": "tests/reference/make_schedule_fixture.py", "transformers_version": transformers.__version__,
           "torch_version": torch.__version__, "cases": cases}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
