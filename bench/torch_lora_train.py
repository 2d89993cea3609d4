#!/usr/bin/env python3
"""PyTorch + PEFT side of bench/bench_lora_train.sh: LoRA training steps of SmolLM2-135M-Instruct
(transformers loading the same GGUF file, dequantized), in ONE mode per process so that the peak RSS
(getrusage ru_maxrss) belongs to that mode alone.

Setup, as a user of transformers + PEFT would write it:
- LoRA r=16, alpha=32, dropout 0.05 (PEFT's common default; --lora_dropout), on all 7 linear
  projections of every block (q,k,v,o,gate,up,down), PEFT's default init; base weights frozen.
- AdamW (torch.optim, lr 2e-4, weight decay 0 as Hugging Face's Trainer uses), global gradient-norm
  clipping to 1.0 (the Trainer's default, as frugal's max_grad_norm), constant learning rate.
- Micro-batch 4 x 512 tokens of real text: the text file is tokenized whole and cut into consecutive
  512-token rows; every token is trained (labels = input_ids, no padding).
- Modes:
    fp32       fp32 weights, fp32 compute;
    bf16       fp32 weights under torch.autocast("cpu", dtype=torch.bfloat16): the mixed precision
               users actually run on CPU (what Trainer(bf16=True) does), LoRA weights and optimizer fp32;
    bf16_ckpt  bf16 as above plus activation (gradient) checkpointing per decoder layer
               (transformers' activation_checkpointing_enable: non-reentrant torch.utils.checkpoint,
               input embeddings made to require grad, as PEFT + Trainer do).
    qlora      QLoRA as the PEFT docs write it: bitsandbytes NF4 with double quantization and bf16
               compute (BitsAndBytesConfig), peft.prepare_model_for_kbit_training, bf16 autocast.
               transformers cannot quantize while reading a GGUF, so --convert_to first writes the
               GGUF's fp32 weights as a Hugging Face folder (in its own process, so that peak RSS is
               not counted) and --hf_folder loads that;
    qlora_ckpt qlora plus gradient checkpointing (prepare_model_for_kbit_training's default).
- Timing: --warmup steps (default 1) untimed, then --steps timed steps (default 5);
  tokens_per_second = steps * 4 * 512 / (sum of the timed steps' seconds).

Prints one JSON line:
{"engine": "torch+peft", "mode": ..., "tokens_per_second": ..., "peak_rss_bytes": ...,
 "step_seconds": [...], "loss": [...], ...}   (loss: every step, warm-up included)

Usage: torch_lora_train.py --mode fp32|bf16|bf16_ckpt [--steps 5] [--warmup 1] [--threads N]
                           [--lora_dropout 0.05] [--model X.gguf] [--text input.txt]
       torch_lora_train.py --mode qlora|qlora_ckpt --hf_folder DIR ...
       torch_lora_train.py --model X.gguf --convert_to DIR
"""
import argparse
import json
import os
import resource
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODES = ("fp32", "bf16", "bf16_ckpt", "qlora", "qlora_ckpt")
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mode", choices=MODES)
    p.add_argument("--hf_folder", help="the --convert_to folder, for the qlora modes")
    p.add_argument("--convert_to", help="write --model as a Hugging Face fp32 folder here and exit")
    p.add_argument("--steps", type=int, default=5, help="timed optimizer steps")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps before the timed ones")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch intra-op threads")
    p.add_argument("--lora_r", type=int, default=16)
    p.add_argument("--lora_alpha", type=float, default=32)
    p.add_argument("--lora_dropout", type=float, default=0.05)
    p.add_argument("--learning_rate", type=float, default=2e-4)
    p.add_argument("--micro_batch_size", type=int, default=4)
    p.add_argument("--sequence_len", type=int, default=512)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--model", default=os.path.join(ROOT, ".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    p.add_argument("--text", default=os.path.join(ROOT, "tests", "data", "datasets", "tinyshakespeare", "input.txt"))
    a = p.parse_args()
    if a.steps < 1 or a.warmup < 0 or a.threads < 1:
        p.error("--steps >= 1, --warmup >= 0, --threads >= 1")
    if not a.convert_to and not a.mode:
        p.error("--mode or --convert_to is required")
    if a.mode and a.mode.startswith("qlora") and not a.hf_folder:
        p.error("--mode qlora needs --hf_folder (made by --convert_to)")
    return a


def main():
    a = parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    # Imported after set_num_threads so nothing starts a pool with another size first.
    import peft
    import transformers
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    transformers.logging.set_verbosity_error()
    folder, name = os.path.dirname(os.path.abspath(a.model)), os.path.basename(a.model)
    if a.convert_to:
        # save_pretrained refuses a model read from GGUF, so the weights and config are written directly.
        from safetensors.torch import save_model
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
        os.makedirs(a.convert_to, exist_ok=True)
        save_model(model, os.path.join(a.convert_to, "model.safetensors"), metadata={"format": "pt"})
        if hasattr(model.config, "quantization_config"):  # the GGUF's, which would stop bitsandbytes
            del model.config.quantization_config
        model.config.save_pretrained(a.convert_to)
        AutoTokenizer.from_pretrained(folder, gguf_file=name).save_pretrained(a.convert_to)
        return
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    with open(a.text, encoding="utf-8") as f:
        ids = tok(f.read(), add_special_tokens=False)["input_ids"]
    B, T = a.micro_batch_size, a.sequence_len
    total_steps = a.warmup + a.steps
    rows = len(ids) // T
    if rows < B:
        sys.exit(f"{a.text}: only {len(ids)} tokens, need at least {B * T}")
    data = torch.tensor(ids[: rows * T], dtype=torch.long).view(rows, T)

    qlora = a.mode.startswith("qlora")
    if qlora:
        from peft import prepare_model_for_kbit_training
        from transformers import BitsAndBytesConfig
        bnb = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                 bnb_4bit_compute_dtype=torch.bfloat16)
        model = AutoModelForCausalLM.from_pretrained(a.hf_folder, quantization_config=bnb, dtype=torch.float32)
        model.config.use_cache = False
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=a.mode == "qlora_ckpt",
                                                gradient_checkpointing_kwargs={"use_reentrant": False})
    else:
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
        model.config.use_cache = False
    if a.mode == "bf16_ckpt":
        if hasattr(model, "activation_checkpointing_enable"):
            model.activation_checkpointing_enable()  # also makes input embeddings require grad
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            model.enable_input_require_grads()
    lora = LoraConfig(r=a.lora_r, lora_alpha=a.lora_alpha, lora_dropout=a.lora_dropout, target_modules=TARGETS,
                      bias="none", task_type="CAUSAL_LM")
    model = get_peft_model(model, lora)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    n_trainable = sum(p.numel() for p in trainable)
    optimizer = torch.optim.AdamW(trainable, lr=a.learning_rate, weight_decay=0.0)
    autocast = a.mode != "fp32"

    losses, seconds = [], []
    for step in range(total_steps):
        first = (step * B) % (rows - B + 1) if rows > B else 0
        batch = data[first:first + B]
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss_value = loss.item()
        seconds.append(time.perf_counter() - t0)
        losses.append(loss_value)
    timed = seconds[a.warmup:]
    versions = {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}
    if qlora:
        import bitsandbytes
        versions["bitsandbytes"] = bitsandbytes.__version__
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    print(json.dumps({
        "engine": "torch+peft",
        "mode": a.mode,
        "tokens_per_second": a.steps * B * T / sum(timed),
        "peak_rss_bytes": peak_rss,
        "step_seconds": [round(s, 4) for s in timed],
        "loss": [round(l, 5) for l in losses],
        "warmup_steps": a.warmup,
        "micro_batch": [B, T],
        "threads": a.threads,
        "lora": {"r": a.lora_r, "alpha": a.lora_alpha, "dropout": a.lora_dropout, "targets": TARGETS,
                 "trainable_parameters": n_trainable},
        "precision": ("NF4 + double quant base, bf16 compute" if qlora else
                      "bf16 autocast, fp32 weights" if autocast else "fp32"),
        "gradient_checkpointing": a.mode.endswith("_ckpt"),
        "versions": versions,
    }), flush=True)


if __name__ == "__main__":
    main()
