#!/usr/bin/env python3
"""bitsandbytes 8-bit (LLM.int8) weights and Hugging Face checkpoints, with bitsandbytes and transformers as the oracle.

1. codec: what bitsandbytes stores for a frozen linear weight (Int8Params(W).to("cpu") -> CB, SCB) and what
   bitsandbytes.functional.int8_vectorwise_dequant gives back, on small tensors chosen to be awkward: an all-zero
   row, constant rows, one large outlier, exact rounding ties, rows of length 1, negative values, values that
   float16 rounds (Int8Params casts the weight to float16 first) or flushes to subnormals. Inputs and outputs are
   stored as bit patterns (tests/fixtures/bnb_int8/codec.json); tests/unit/test_bnb_int8.cpp compares frugal's
   codec with them bit for bit. What bnb 0.50.2 computes on CPU (backends/default/ops.py, _ops.py, torch's
   Tensor.__rtruediv__), per row of the float16 weight A, all in fp32:
       SCB = max|A|;  CB = round_half_even(A * ((1 / SCB) * 127))  (0 * inf = NaN casts to 0 for a zero row)
       dequant = (CB * SCB) * float32(1/127)
   No outlier columns are held back from the weight (threshold 0 in Int8Params; llm_int8_threshold applies to
   activations in the matmul only, so it does not change a saved checkpoint).
2. bitsandbytes writes, frugal reads: transformers loads stories260K (the bf16 HF folder of
   make_stories260k_hf.py) with BitsAndBytesConfig(load_in_8bit=True) and save_pretrained's it; the folder and
   transformers' logits on it (fp32 compute: each weight dequantized by int8_vectorwise_dequant, a plain fp32
   product, every other parameter fp32) are committed (tests/fixtures/bnb_int8/stories260k_int8/,
   reference.json). tests/unit/test_bnb_int8.cpp loads the folder in frugal and compares the logits, and
   checks that frugal's writer reproduces the file byte for byte from the same bf16 weights.
3. frugal writes, transformers reads: `frugal quantize --type int8 -o` of SmolLM2-135M-Instruct (the Q4_1 GGUF,
   bf16 for the other tensors); transformers' fp32-mode logits on that folder for a few prompts, sampled
   columns, are committed (tests/fixtures/bnb_int8/smollm2_int8.json) for tests/model/test_bnb_int8_smollm2.cpp.
   Also bitsandbytes and `frugal quantize --type int8 -o` quantize the same bf16 SmolLM2 folder (frugal's
   export of the GGUF) and their model.safetensors are compared, tensor by tensor and whole; only the result is
   recorded (smollm2_bnb_check.json).

Upstream versions used for the committed fixtures: transformers 5.23.0, bitsandbytes 0.50.2 (CPU backend),
torch 2.15.0, safetensors 0.8.0, accelerate 1.15.0.
Usage (after building frugal): /opt/frugal-ref/bin/python tests/reference/make_bnb_int8_fixtures.py [codec] [stories] [smollm2]
(no argument: all three).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import bitsandbytes
import bitsandbytes.functional as bnbF
import torch
import transformers
from transformers import AutoModelForCausalLM, BitsAndBytesConfig

# The same model files, prompts and sampled columns as the 4-bit fixtures.
from make_bnb_4bit_fixtures import FRUGAL, GGUF, ROOT, SMOL_COLUMNS, SMOL_PROMPTS, STORIES, STORIES_TOKENS

OUT = os.path.join(ROOT, "tests/fixtures/bnb_int8")


def bits(t):
    return [int(v) for v in t.float().contiguous().view(torch.int32).flatten().tolist()]


def codec_cases():
    g = torch.Generator().manual_seed(0)
    cases = {}
    cases["random"] = torch.randn(8, 40, generator=g) * 0.05
    # A zero row between ordinary ones, a constant positive and a constant negative row.
    cases["zero_and_constant_rows"] = torch.stack([torch.zeros(24), torch.randn(24, generator=g), torch.full((24,), 0.37),
                                                   torch.full((24,), -1.5), torch.zeros(24)])
    outlier = torch.randn(3, 33, generator=g) * 0.02
    outlier[1, 17] = 40.0   # everything else in the row rounds to 0 or +-1
    outlier[2, 0] = -7.0
    cases["outlier"] = outlier
    # absmax 127 makes the scale (1/127)*127 == 1.0 in fp32, so k + 0.5 is an exact tie; absmax 127/128 gives
    # scale 128 and ties at (k + 0.5)/128.
    ties = torch.arange(-126.5, 127.0, 1.0)[:252].view(4, 63)  # -126.5 ... 124.5
    cases["ties"] = torch.cat([ties, torch.full((4, 1), 127.0)], dim=1)
    small = torch.cat([torch.arange(-64, 64).float() / 128 + 1 / 256, torch.tensor([127 / 128])])
    cases["ties_scale_128"] = small.view(1, -1)
    cases["rows_of_length_1"] = torch.tensor([[0.0], [0.3], [-2.5], [1e-7], [-65504.0]])
    cases["negative"] = -torch.rand(4, 19, generator=g) * 3
    # Values float16 rounds, flushes to subnormals, or saturates at its largest finite value.
    cases["float16_rounding"] = torch.tensor([[1e-4, 3e-8, 6e-5, -1e-6, 0.1, 0.2, 0.30000001, 1 / 3],
                                              [65504.0, 1.0, -0.5, 1e-3, 2e-3, 100.0, 1000.0, 65519.0],
                                              [1.0001, 1.0002, 1.0004, 0.99999, 0.5, 0.25, 0.125, 0.0625]])
    cases["wide"] = torch.randn(2, 301, generator=g)  # several SIMD widths plus a tail
    return cases


def codec_fixture():
    out = {"cases": []}
    for name, w in codec_cases().items():
        w = w.float().contiguous()
        param = bitsandbytes.nn.Int8Params(w.clone(), requires_grad=False, has_fp16_weights=False).to("cpu")
        cb, scb = param.CB, param.SCB
        cb2, scb2, outliers = bnbF.int8_vectorwise_quant(w.half())
        assert torch.equal(cb, cb2) and torch.equal(scb, scb2) and outliers is None
        deq = bnbF.int8_vectorwise_dequant(cb, scb)
        # The same in plain torch, as the docstring states it: this is what frugal implements.
        h = w.half().float()
        absmax = h.abs().max(dim=1).values
        scale = (1.0 / absmax) * 127.0
        mine = torch.round(h * scale.unsqueeze(1)).nan_to_num(0.0).to(torch.int8)
        assert torch.equal(mine, cb) and torch.equal(absmax, scb), name
        mine_deq = (cb.float() * scb.unsqueeze(1)) * torch.tensor(1 / 127, dtype=torch.float32)
        assert torch.equal(mine_deq, deq), name
        # How much the awkward parts matter: exact ties, and codes that would differ without the float16 cast.
        prod = h * scale.unsqueeze(1)
        ties = int(((prod - prod.floor()) == 0.5).sum())
        no_f16 = torch.round(w * ((1.0 / w.abs().max(dim=1).values) * 127.0).unsqueeze(1)).nan_to_num(0.0).to(torch.int8)
        out["cases"].append({"name": name, "rows": w.shape[0], "cols": w.shape[1], "input_bits": bits(w),
                             "codes": [int(v) for v in cb.flatten().tolist()], "absmax_bits": bits(scb),
                             "dequant_bits": bits(deq), "exact_ties": ties,
                             "codes_changed_by_float16_cast": int((no_f16 != cb).sum())})
        print(f"codec {name}: {w.shape[0]}x{w.shape[1]}, exact ties {ties}, codes changed by the float16 cast "
              f"{out['cases'][-1]['codes_changed_by_float16_cast']}")
    return out


def dequantized_forward(module):
    weight = bnbF.int8_vectorwise_dequant(module.weight.data, module.weight.SCB)

    def forward(x):
        return torch.nn.functional.linear(x.float(), weight, module.bias)
    return forward


def logits_f32(folder, tokens_list):
    """fp32 compute: every Linear8bitLt dequantized once to fp32 by bitsandbytes, then a plain fp32 product."""
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16).eval()
    count = 0
    for module in model.modules():
        if isinstance(module, bitsandbytes.nn.Linear8bitLt):
            module.forward = dequantized_forward(module)
            count += 1
    assert count > 0, folder
    for p in model.parameters():
        if p.dtype in (torch.bfloat16, torch.float16):
            p.data = p.data.float()
    with torch.no_grad():
        return [model(torch.tensor([t])).logits[0].float() for t in tokens_list]


def stories_fixture():
    folder = os.path.join(OUT, "stories260k_int8")
    shutil.rmtree(folder, ignore_errors=True)
    model = AutoModelForCausalLM.from_pretrained(STORIES, dtype=torch.bfloat16,
                                                 quantization_config=BitsAndBytesConfig(load_in_8bit=True))
    model.save_pretrained(folder)
    os.remove(os.path.join(folder, "generation_config.json"))
    for fn in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(STORIES, fn), folder)
    logits = logits_f32(folder, [STORIES_TOKENS])[0]
    return {"tokens": STORIES_TOKENS, "f32": [[round(float(v), 6) for v in row] for row in logits]}


def smollm2_fixture():
    work = tempfile.mkdtemp()
    folder = os.path.join(work, "smollm2_frugal_int8")
    subprocess.run([FRUGAL, "quantize", "-m", GGUF, "--type", "int8", "-o", folder], check=True,
                   stdout=subprocess.DEVNULL)
    result = {"prompts": SMOL_PROMPTS, "columns": SMOL_COLUMNS, "f32": []}
    for logits in logits_f32(folder, SMOL_PROMPTS):
        result["f32"].append({"logits": [[round(float(v), 5) for v in row[SMOL_COLUMNS]] for row in logits],
                              "argmax": [int(i) for i in logits.argmax(-1)]})
    shutil.rmtree(work)
    return result


def tensors_of(path):
    from safetensors import safe_open
    with safe_open(path, "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}


def smollm2_bnb_check():
    """bitsandbytes and frugal quantize the same bf16 SmolLM2 folder; their files compared tensor by tensor."""
    work = tempfile.mkdtemp()
    bf16 = os.path.join(work, "smollm2_bf16")
    subprocess.run([FRUGAL, "merge", "-m", GGUF, "-o", bf16, "--format", "hf", "--dtype", "bf16"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    theirs_folder = os.path.join(work, "bnb")
    model = AutoModelForCausalLM.from_pretrained(bf16, dtype=torch.bfloat16,
                                                 quantization_config=BitsAndBytesConfig(load_in_8bit=True))
    model.save_pretrained(theirs_folder)
    del model
    ours_folder = os.path.join(work, "frugal")
    subprocess.run([FRUGAL, "quantize", "-m", bf16, "--type", "int8", "-o", ours_folder], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ours = tensors_of(os.path.join(ours_folder, "model.safetensors"))
    theirs = tensors_of(os.path.join(theirs_folder, "model.safetensors"))
    same = [k for k in theirs if k in ours and ours[k].dtype == theirs[k].dtype and torch.equal(ours[k], theirs[k])]
    with open(os.path.join(theirs_folder, "model.safetensors"), "rb") as f1, \
            open(os.path.join(ours_folder, "model.safetensors"), "rb") as f2:
        identical_file = f1.read() == f2.read()
    shutil.rmtree(work)
    result = {"tensors_in_bnb_file": len(theirs), "tensors_in_frugal_file": len(ours),
              "tensors_identical": len(same), "tensors_that_differ": sorted(k for k in theirs if k not in same)[:20],
              "files_identical": identical_file}
    print(json.dumps(result, indent=1))
    return result


def write_json(name, obj):
    obj["versions"] = {"transformers": transformers.__version__, "bitsandbytes": bitsandbytes.__version__,
                       "torch": torch.__version__}
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(obj, f, separators=(",", ":"))


def main():
    parts = sys.argv[1:] or ["codec", "stories", "smollm2"]
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    if "codec" in parts:
        write_json("codec.json", codec_fixture())
    if "stories" in parts:
        write_json("reference.json", stories_fixture())
    if "smollm2" in parts:
        write_json("smollm2_int8.json", smollm2_fixture())
        write_json("smollm2_bnb_check.json", smollm2_bnb_check())


if __name__ == "__main__":
    main()
