#!/usr/bin/env python3
"""bitsandbytes 4-bit Hugging Face checkpoints, both directions, with transformers as the oracle.

1. bitsandbytes writes, frugal reads: transformers + bitsandbytes quantize stories260K (the bf16 HF
   folder of make_stories260k_hf.py) to NF4 with double quantization and to FP4 without, and
   save_pretrained them; the folders and transformers' logits on them are committed
   (tests/fixtures/bnb_4bit/stories260k_{nf4_dq,fp4}/, reference.json). tests/unit/test_bnb_4bit.cpp
   loads them in frugal and checks the logits, and that frugal's own writer reproduces the files.
2. frugal writes, transformers reads: frugal writes SmolLM2-135M-Instruct (the Q4_1 GGUF) as an NF4 +
   double-quant folder (`frugal quantize --type nf4 --double-quant -o`, bf16 for the other tensors);
   transformers loads it with bitsandbytes and its logits for a few short prompts are committed
   (tests/fixtures/bnb_4bit/smollm2_nf4_dq.json); tests/model/test_bnb_smollm2.cpp rewrites the folder
   the same way, reloads it in frugal and compares.
3. bitsandbytes writes SmolLM2 (from the bf16 folder frugal exports of the same GGUF); frugal's
   perplexity on that folder is compared with transformers', and `frugal quantize` of the same bf16
   folder with bnb's file, tensor by tensor. Only the result is recorded (smollm2_bnb_check.json); the folder is not committed.

Upstream versions used for the committed fixtures: transformers 5.23.0, bitsandbytes 0.50.2 (CPU
backend), torch 2.15.0, safetensors 0.8.0, accelerate 1.15.0.
Usage (after building frugal): /opt/frugal-ref/bin/python tests/reference/make_bnb_4bit_fixtures.py [--smollm2-only]
"""
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

import bitsandbytes
import torch
import transformers
from safetensors import safe_open
from transformers import AutoModelForCausalLM, BitsAndBytesConfig

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FRUGAL = os.path.join(ROOT, "build/frugal")
GGUF = os.path.join(ROOT, ".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf")
STORIES = os.path.join(ROOT, "tests/fixtures/stories260k_hf/bf16")
OUT = os.path.join(ROOT, "tests/fixtures/bnb_4bit")
STORIES_TOKENS = [1, 403, 407, 261, 378, 432, 383, 286, 261]
# SmolLM2 prompts as token ids (a chat turn, plain text, a date): "<|im_start|>system\n..." etc.
SMOL_PROMPTS = [[1, 9690, 198, 2683, 314, 253, 5356, 5646, 11173, 3365, 2],
                [504, 3458, 282, 4649, 314, 2114, 30],
                [1, 4093, 198, 23959, 451, 3587, 288, 216, 34, 32, 34, 33]]
SMOL_COLUMNS = list(range(0, 49152, 97))


def bnb_config(quant_type, double_quant, compute):
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=quant_type,
                              bnb_4bit_use_double_quant=double_quant, bnb_4bit_compute_dtype=compute)


# How the logits are computed, in three modes. transformers ignores dtype= for a 4-bit checkpoint and
# keeps the stored bf16, so the two frugal-like modes are set up by hand on the loaded model:
#   "bf16"        transformers + bitsandbytes as users run it: bf16 parameters and activations;
#   "f32"         everything fp32; each 4-bit weight dequantized by bitsandbytes to fp32 (exactly
#                 code * absmax), then a plain fp32 product;
#   "bf16_linear" frugal's bf16 mode: fp32 activations, every linear product (4-bit layers and the
#                 head) on bf16-rounded inputs and weights with fp32 accumulation.
MODES = ("f32", "bf16_linear", "bf16")


def round_bf16(x):
    return x.bfloat16().float()


def dequantized_forward(module, bf16):
    state = module.weight.quant_state
    state.dtype = torch.float32  # dequantize to fp32, not to the stored dtype
    weight = bitsandbytes.functional.dequantize_4bit(module.weight.data, state).float()
    if bf16:
        weight = round_bf16(weight)

    def forward(x):
        return torch.nn.functional.linear(round_bf16(x) if bf16 else x.float(), weight, module.bias)
    return forward


def load_for(folder, mode, generic_cpu_path):
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16).eval()
    for module in model.modules():
        if not isinstance(module, bitsandbytes.nn.Linear4bit):
            continue
        if mode != "bf16":
            module.forward = dequantized_forward(module, mode == "bf16_linear")
        elif generic_cpu_path:
            # bitsandbytes' AVX512-BF16 inference kernel repacks weights in blocks of 32 output rows and
            # asserts on stories260K's 172-row FFN; its generic path (dequantize, then matmul) has no such limit.
            module.support_avx512bf16_for_cpu = False
    if mode != "bf16":
        for p in model.parameters():
            if p.dtype == torch.bfloat16:
                p.data = p.data.float()
    if mode == "bf16_linear":  # the head's weight (the bf16 embedding) is already bf16-exact
        model.lm_head.register_forward_pre_hook(lambda m, args: (round_bf16(args[0]),))
    return model


def logits_of(folder, mode, tokens, generic_cpu_path=False):
    model = load_for(folder, mode, generic_cpu_path)
    with torch.no_grad():
        return model(torch.tensor([tokens])).logits[0].float()


def sum_in_other_order(model, mode):
    """Makes every 4-bit layer compute the same products with another summation order: the input
    dimension in two halves, each accumulated in fp32, added in fp32, then rounded as the mode rounds.
    The rounding points are unchanged, so whatever the logits move by is what any two correct
    implementations (frugal and transformers, or transformers on two CPUs) can differ by."""
    for module in model.modules():
        if not isinstance(module, bitsandbytes.nn.Linear4bit):
            continue
        state = module.weight.quant_state
        state.dtype = torch.float32
        weight = bitsandbytes.functional.dequantize_4bit(module.weight.data, state).float()
        if mode != "f32":
            weight = round_bf16(weight)

        def forward(x, weight=weight):
            out_dtype = torch.bfloat16 if mode == "bf16" else torch.float32
            x = round_bf16(x) if mode != "f32" else x.float()
            half = x.shape[-1] // 2
            out = (torch.nn.functional.linear(x[..., :half], weight[:, :half]) +
                   torch.nn.functional.linear(x[..., half:], weight[:, half:]))
            return out.to(out_dtype)
        module.forward = forward
    return model


def reorder_noise(folder, mode, prompts, columns):
    """max |logit change| when transformers sums in another order (sum_in_other_order), over the
    sampled columns at every position of every prompt."""
    model = sum_in_other_order(load_for(folder, mode, False), mode)
    noise = 0.0
    with torch.no_grad():
        for p in prompts:
            reordered = model(torch.tensor([p])).logits[0].float()[:, columns]
            noise = max(noise, (reordered - logits_of(folder, mode, p)[:, columns]).abs().max().item())
    return noise


def stories_fixtures():
    reference = {"tokens": STORIES_TOKENS}
    for name, quant_type, dq in [("stories260k_nf4_dq", "nf4", True), ("stories260k_fp4", "fp4", False)]:
        folder = os.path.join(OUT, name)
        model = AutoModelForCausalLM.from_pretrained(STORIES, dtype=torch.bfloat16,
                                                     quantization_config=bnb_config(quant_type, dq, torch.bfloat16))
        model.save_pretrained(folder)
        os.remove(os.path.join(folder, "generation_config.json"))
        for fn in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(os.path.join(STORIES, fn), folder)
        reference[name] = {mode: [[round(float(v), 6) for v in row] for row in logits_of(folder, mode, STORIES_TOKENS, True)]
                           for mode in MODES}
    return reference


def smollm2_frugal_written(work):
    folder = os.path.join(work, "smollm2_frugal_nf4_dq")
    subprocess.run([FRUGAL, "quantize", "-m", GGUF, "--type", "nf4", "--double-quant", "-o", folder], check=True,
                   stdout=subprocess.DEVNULL)
    result = {"prompts": SMOL_PROMPTS, "columns": SMOL_COLUMNS}
    for mode in MODES:
        rows = []
        for p in SMOL_PROMPTS:
            logits = logits_of(folder, mode, p)
            rows.append({"logits": [[round(float(v), 5) for v in row[SMOL_COLUMNS]] for row in logits],
                         "argmax": [int(i) for i in logits.argmax(-1)]})
        result[mode] = rows
    result["reorder_noise"] = {mode: round(reorder_noise(folder, mode, SMOL_PROMPTS, SMOL_COLUMNS), 5) for mode in MODES}
    return folder, result


def tensors_of(path):
    with safe_open(path, "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}


def smollm2_bnb_written(work, frugal_folder):
    # The same weights transformers would quantize: frugal's bf16 export of the GGUF.
    bf16 = os.path.join(work, "smollm2_bf16")
    subprocess.run([FRUGAL, "merge", "-m", GGUF, "-o", bf16, "--format", "hf", "--dtype", "bf16"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    folder = os.path.join(work, "smollm2_bnb_nf4_dq")
    model = AutoModelForCausalLM.from_pretrained(bf16, dtype=torch.bfloat16,
                                                 quantization_config=bnb_config("nf4", True, torch.bfloat16))
    model.save_pretrained(folder)
    for fn in os.listdir(bf16):
        if fn.startswith("tokenizer") or fn in ("special_tokens_map.json", "chat_template.jinja"):
            shutil.copy(os.path.join(bf16, fn), folder)
    del model
    # Perplexity of one window of text, transformers vs frugal, both in fp32.
    text_path = os.path.join(ROOT, "tests", "data", "datasets", "wikitext-2-raw", "wiki.test.raw")
    with open(text_path, encoding="utf-8") as f:
        text = f.read()[:4000]
    snippet = os.path.join(work, "snippet.txt")
    with open(snippet, "w", encoding="utf-8") as f:
        f.write(text)
    out = subprocess.run([FRUGAL, "perplexity", "-m", folder, "-f", snippet, "--ctx", "256", "--max-tokens", "256",
                          "--dtype", "f32", "--json"], check=True, capture_output=True, text=True).stdout
    frugal_ppl = json.loads(out)
    ids = subprocess.run([FRUGAL, "tokenize", "-m", folder, "--file", snippet], check=True, capture_output=True,
                         text=True).stdout.split()
    ids = [int(i) for i in ids][:256]
    model = load_for(folder, "f32", False)
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    nll = torch.nn.functional.cross_entropy(logits[:-1], torch.tensor(ids[1:]), reduction="mean").item()
    # frugal's own NF4 + double-quant writer against bitsandbytes', tensor by tensor, from the same
    # bf16 weights (frugal_folder was quantized from the GGUF's fp32 values, so it differs by design).
    ours_folder = os.path.join(work, "smollm2_frugal_from_bf16")
    subprocess.run([FRUGAL, "quantize", "-m", bf16, "--type", "nf4", "--double-quant", "-o", ours_folder], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ours, theirs = tensors_of(os.path.join(ours_folder, "model.safetensors")), tensors_of(
        os.path.join(folder, "model.safetensors"))
    same = [k for k in theirs if k in ours and ours[k].dtype == theirs[k].dtype and torch.equal(ours[k], theirs[k])]
    differ = sorted(k for k in theirs if k not in same)
    return {"frugal_perplexity_f32": frugal_ppl["perplexity"], "frugal_nll_f32": frugal_ppl["nll"],
            "transformers_perplexity_f32": math.exp(nll), "transformers_nll_f32": nll,
            "tokens_scored": frugal_ppl["scored"], "tensors_in_bnb_file": len(theirs),
            "tensors_identical_to_frugal_quantize": len(same), "tensors_that_differ": differ[:20]}


def main():
    # --smollm2-only regenerates the two SmolLM2 results and leaves the committed stories260K
    # folders alone (rewriting them changes nothing but float noise in reference.json's last digits).
    smollm2_only = "--smollm2-only" in sys.argv[1:]
    torch.manual_seed(0)
    versions = {"transformers": transformers.__version__, "bitsandbytes": bitsandbytes.__version__,
                "torch": torch.__version__}
    if not smollm2_only:
        shutil.rmtree(OUT, ignore_errors=True)
        os.makedirs(OUT)
        reference = stories_fixtures()
        reference["versions"] = versions
        with open(os.path.join(OUT, "reference.json"), "w") as f:
            json.dump(reference, f, separators=(",", ":"))
    work = tempfile.mkdtemp()
    frugal_folder, smol = smollm2_frugal_written(work)
    smol["versions"] = versions
    with open(os.path.join(OUT, "smollm2_nf4_dq.json"), "w") as f:
        json.dump(smol, f, separators=(",", ":"))
    print("transformers against itself summing in another order, max |logit change|:", smol["reorder_noise"])
    check = smollm2_bnb_written(work, frugal_folder)
    check["versions"] = versions
    with open(os.path.join(OUT, "smollm2_bnb_check.json"), "w") as f:
        json.dump(check, f, indent=1)
    print(json.dumps(check, indent=1))
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
