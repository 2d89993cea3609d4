#!/usr/bin/env python3
"""Prunes stories260K (the HF folder tests/fixtures/stories260k_hf/f32_sharded, made by
make_stories260k_hf.py) with llm-compressor, the oracle for `frugal prune`, on the calibration token
ids frugal uses, and records what came out.

Upstream versions used for the committed fixtures: llmcompressor 0.11.0, compressed-tensors (as
installed with it), transformers 4.57.6, torch 2.11.0 (CPU). Run under the CPU lock:
    flock /tmp/frugal-cpu.lock /opt/frugal-ref/bin/python tests/reference/make_prune_fixtures.py

Calibration: the first CALIB_SAMPLES * CALIB_SEQ token ids of the first 20000 characters of tinyshakespeare (tokenized without BOS
by the folder's tokenizer.json through `tokenizers`, which frugal's tokenizer reproduces), cut into consecutive samples of
CALIB_SEQ tokens, one sample per batch, as `frugal prune --calib FILE` cuts them. Evaluation: the
EVAL_LEN tokens after them, one window, perplexity = exp(mean NLL of tokens 1..EVAL_LEN-1).

Cases (which llm-compressor code gives each mask):
  magnitude_layer_50  MagnitudePruningModifier's mask creator ("unstructured": the int(s * numel)
                      smallest |w| of the whole matrix, ties at the threshold pruned too); the modifier
                      is a training-time one, so its mask function is called as its on_start calls it
  magnitude_row_50, magnitude_2of4, magnitude_4of8
                      Wanda's sparsify_weight with every input norm 1 (its metric is then |w|): the
                      int(s * cols) smallest per row (stable sort), or N smallest of every M (topk)
  wanda_*, sparsegpt_* oneshot() with WandaPruningModifier / SparseGPTModifier (sequential pipeline,
                      each block fed the pruned blocks before it), dampening_frac 0.01, block_size 128
4:8 cases skip down_proj: its 172 input columns are not a multiple of 8 (frugal refuses such a layer).

Writes tests/fixtures/prune_stories260k/:
  calibration.json  {"calib_seq", "samples": [[ids]...], "eval": [ids]}
  <case>.json       {"method", "sparsity", "pattern", "ppl", "layers": {module: {"shape", "mask": base64
                    of the keep-mask bits (1 = kept; numpy.packbits order, row-major), "probe": [[index,
                    value]...] a few weights after pruning}}}
  dense.json        {"ppl"} of the unpruned model

With --smollm2 DIR (DIR: `frugal merge -m .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf --format hf
--dtype f32 -o DIR`, the dequantized model as an fp32 HF folder) it writes tests/fixtures/prune_smollm2/
instead, for tests/model/test_prune_smollm2.cpp: calibration = the first SMOL_SAMPLES * SMOL_SEQ
tokens of wikitext-2-raw's test file from byte 600000 on, evaluation = the first SMOL_EVAL tokens of its
first 600000 bytes (disjoint text), perplexity over windows of 512 (each scoring tokens 1..511, as
`frugal perplexity --ctx 512` does); Wanda and SparseGPT at 50%, 2:4, 4:8 (all seven projections: 576
and 1536 are multiples of 8) and magnitude per matrix at 50%; masks recorded for two layers only
(model.layers.0 and .29 self_attn.k_proj) to keep the fixture small.
"""
import base64
import copy
import json
import os
import sys

import numpy as np
import torch
import torch.utils.data
from tokenizers import Tokenizer
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

from llmcompressor import oneshot
from llmcompressor.modifiers.pruning import SparseGPTModifier, WandaPruningModifier
from llmcompressor.modifiers.pruning.utils.pytorch import PruningMaskCreatorArgs, PruningMaskFactory
from llmcompressor.modifiers.pruning.wanda import wanda_sparsify

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(ROOT, "tests", "fixtures", "stories260k_hf", "f32_sharded")
TEXT = os.path.join(ROOT, "tests", "data", "datasets", "tinyshakespeare", "input.txt")
OUT = os.path.join(ROOT, "tests", "fixtures", "prune_stories260k")
CALIB_SAMPLES, CALIB_SEQ, EVAL_LEN = 16, 128, 256
LINEARS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
PROBES = 48  # weights recorded per layer


def load_model():
    return LlamaForCausalLM.from_pretrained(MODEL, dtype=torch.float32).eval()


def linears(model, skip=()):
    for i, layer in enumerate(model.model.layers):
        for part in (layer.self_attn, layer.mlp):
            for name in LINEARS:
                if hasattr(part, name) and name not in skip:
                    yield f"model.layers.{i}.{'self_attn' if part is layer.self_attn else 'mlp'}.{name}", getattr(part, name)


def perplexity(model, ids):
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].double()
    nll = torch.nn.functional.cross_entropy(logits[:-1], torch.tensor(ids[1:]), reduction="mean")
    return float(torch.exp(nll))


def record(model, case, ppl, skip=()):
    layers = {}
    for name, mod in linears(model, skip):
        w = mod.weight.detach().numpy()
        keep = (w != 0).astype(np.uint8).reshape(-1)
        idx = np.linspace(0, w.size - 1, PROBES).astype(np.int64)
        layers[name] = {"shape": list(w.shape), "mask": base64.b64encode(np.packbits(keep).tobytes()).decode(),
                        "probe": [[int(i), float(w.reshape(-1)[i])] for i in idx]}
    case["ppl"] = ppl
    case["layers"] = layers
    return case


def calibration_loader(samples):
    rows = [{"input_ids": torch.tensor(s), "attention_mask": torch.ones(len(s), dtype=torch.long)} for s in samples]
    return torch.utils.data.DataLoader(rows, batch_size=1, shuffle=False)


def windowed_perplexity(model, ids, window=512):
    nll, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(ids) - window + 1, window):
            chunk = ids[start:start + window]
            logits = model(torch.tensor([chunk])).logits[0].double()
            nll += float(torch.nn.functional.cross_entropy(logits[:-1], torch.tensor(chunk[1:]), reduction="sum"))
            count += window - 1
    return float(np.exp(nll / count))


SMOL_SAMPLES, SMOL_SEQ, SMOL_EVAL = 32, 512, 16384
SMOL_RECORDED = ["model.layers.0.self_attn.k_proj", "model.layers.29.self_attn.k_proj"]


def smollm2(folder):
    out = os.path.join(ROOT, "tests", "fixtures", "prune_smollm2")
    os.makedirs(out, exist_ok=True)
    tok = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    with open(os.path.join(ROOT, "tests", "data", "datasets", "wikitext-2-raw", "wiki.test.raw"), "rb") as f:
        raw = f.read()
    calib = tok.encode(raw[600000:].decode("utf-8"), add_special_tokens=False).ids
    samples = [calib[i * SMOL_SEQ:(i + 1) * SMOL_SEQ] for i in range(SMOL_SAMPLES)]
    eval_ids = tok.encode(raw[:600000].decode("utf-8"), add_special_tokens=False).ids[:SMOL_EVAL]
    with open(os.path.join(out, "calibration.json"), "w") as f:
        json.dump({"calib_text": "wiki.test.raw[600000:]", "eval_text": "wiki.test.raw[:600000]", "calib_seq": SMOL_SEQ,
                   "samples": samples, "eval": eval_ids}, f, separators=(",", ":"))
    processor = PreTrainedTokenizerFast(tokenizer_object=tok)
    load = lambda: LlamaForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()

    def write(name, model, case):
        layers = {}
        for lname, mod in linears(model):
            if lname not in SMOL_RECORDED:
                continue
            w = mod.weight.detach().numpy()
            keep = (w != 0).astype(np.uint8).reshape(-1)
            idx = np.linspace(0, w.size - 1, PROBES).astype(np.int64)
            layers[lname] = {"shape": list(w.shape), "mask": base64.b64encode(np.packbits(keep).tobytes()).decode(),
                             "probe": [[int(i), float(w.reshape(-1)[i])] for i in idx]}
        zeros = sum(int((m.weight == 0).sum()) for _, m in linears(model))
        total = sum(m.weight.numel() for _, m in linears(model))
        case.update(ppl=windowed_perplexity(model, eval_ids), layers=layers, zeros=zeros, params=total)
        with open(os.path.join(out, name + ".json"), "w") as f:
            json.dump(case, f, separators=(",", ":"))
        print(name, "ppl", case["ppl"], "zeros", zeros / total, flush=True)

    write("dense", load(), {"method": "dense"})
    model = load()
    creator = PruningMaskFactory.create_mask_creator("unstructured")
    with torch.no_grad():
        for _, mod in linears(model):
            mod.weight.data *= creator(PruningMaskCreatorArgs(parameter=mod.weight, sparsity=0.5, scores=mod.weight.data.abs()))
    write("magnitude_layer_50", model, {"method": "magnitude", "scope": "layer", "sparsity": 0.5, "pattern": ""})
    for n, m in [(2, 4), (4, 8)]:
        model = load()
        with torch.no_grad():
            for _, mod in linears(model):
                mod.weight.data = wanda_sparsify.sparsify_weight(mod, {mod: torch.ones(mod.weight.shape[1])}, 0.5, n, m)
        write(f"magnitude_{n}of{m}", model, {"method": "magnitude", "scope": "row", "sparsity": 0.5, "pattern": f"{n}:{m}"})
    loader = torch.utils.data.DataLoader(
        [{"input_ids": torch.tensor(s), "attention_mask": torch.ones(len(s), dtype=torch.long)} for s in samples],
        batch_size=1, shuffle=False)
    for method, cls in [("sparsegpt", SparseGPTModifier), ("wanda", WandaPruningModifier)]:
        for suffix, structure in [("50", "0:0"), ("2of4", "2:4"), ("4of8", "4:8")]:
            model = load()
            kwargs = dict(sparsity=0.5, mask_structure=structure, targets=["LlamaDecoderLayer"], ignore=["lm_head"])
            if method == "sparsegpt":
                kwargs.update(dampening_frac=0.01, block_size=128)
            oneshot(model=model, recipe=[cls(**kwargs)], dataset=loader, pipeline="sequential",
                    num_calibration_samples=SMOL_SAMPLES, processor=processor)
            model.eval()
            write(f"{method}_{suffix}", model,
                  {"method": method, "sparsity": 0.5, "pattern": "" if structure == "0:0" else structure})


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--smollm2":
        return smollm2(sys.argv[2])
    os.makedirs(OUT, exist_ok=True)
    tok = Tokenizer.from_file(os.path.join(MODEL, "tokenizer.json"))
    with open(TEXT, encoding="utf-8") as f:
        text = f.read(20000)
    ids = tok.encode(text, add_special_tokens=False).ids
    need = CALIB_SAMPLES * CALIB_SEQ + EVAL_LEN
    assert len(ids) >= need, (len(ids), need)
    samples = [ids[i * CALIB_SEQ:(i + 1) * CALIB_SEQ] for i in range(CALIB_SAMPLES)]
    eval_ids = ids[CALIB_SAMPLES * CALIB_SEQ:need]
    with open(os.path.join(OUT, "calibration.json"), "w") as f:
        json.dump({"text": "tests/data/datasets/tinyshakespeare/input.txt", "calib_seq": CALIB_SEQ,
                   "samples": samples, "eval": eval_ids}, f, separators=(",", ":"))

    processor = PreTrainedTokenizerFast(tokenizer_object=tok)  # oneshot wants one; the ids are given
    dense = load_model()
    with open(os.path.join(OUT, "dense.json"), "w") as f:
        json.dump({"ppl": perplexity(dense, eval_ids)}, f)

    def write(name, case):
        with open(os.path.join(OUT, name + ".json"), "w") as f:
            json.dump(case, f, separators=(",", ":"))
        print(name, "ppl", case["ppl"])

    # Magnitude, whole matrix: MagnitudePruningModifier's unstructured mask creator.
    model = load_model()
    creator = PruningMaskFactory.create_mask_creator("unstructured")
    with torch.no_grad():
        for _, mod in linears(model):
            mask = creator(PruningMaskCreatorArgs(parameter=mod.weight, sparsity=0.5, scores=mod.weight.data.abs()))
            mod.weight.data *= mask
    write("magnitude_layer_50", record(model, {"method": "magnitude", "scope": "layer", "sparsity": 0.5, "pattern": ""},
                                       perplexity(model, eval_ids)))

    # Magnitude per row and N:M: Wanda's selection with unit input norms.
    for name, sparsity, n, m in [("magnitude_row_50", 0.5, 0, 0), ("magnitude_2of4", 0.5, 2, 4), ("magnitude_4of8", 0.5, 4, 8)]:
        model = load_model()
        skip = ("down_proj",) if m == 8 else ()
        with torch.no_grad():
            for _, mod in linears(model, skip):
                mod.weight.data = wanda_sparsify.sparsify_weight(mod, {mod: torch.ones(mod.weight.shape[1])}, sparsity, n, m)
        pattern = f"{n}:{m}" if n else ""
        write(name, record(model, {"method": "magnitude", "scope": "row", "sparsity": sparsity, "pattern": pattern},
                           perplexity(model, eval_ids), skip))

    # Wanda and SparseGPT through oneshot's sequential pipeline.
    for method, cls in [("wanda", WandaPruningModifier), ("sparsegpt", SparseGPTModifier)]:
        for suffix, structure in [("50", "0:0"), ("2of4", "2:4"), ("4of8", "4:8")]:
            model = load_model()
            ignore = ["lm_head"] + (["re:.*down_proj"] if structure == "4:8" else [])
            kwargs = dict(sparsity=0.5, mask_structure=structure, targets=["LlamaDecoderLayer"], ignore=ignore)
            if method == "sparsegpt":
                kwargs.update(dampening_frac=0.01, block_size=128)
            oneshot(model=model, recipe=[cls(**kwargs)], dataset=calibration_loader(samples), pipeline="sequential",
                    num_calibration_samples=CALIB_SAMPLES, processor=processor)
            model.eval()
            skip = ("down_proj",) if structure == "4:8" else ()
            pattern = "" if structure == "0:0" else structure
            write(f"{method}_{suffix}", record(model, {"method": method, "sparsity": 0.5, "pattern": pattern},
                                               perplexity(model, eval_ids), skip))


if __name__ == "__main__":
    main()
