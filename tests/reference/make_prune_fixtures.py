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
"""
import base64
import copy
import json
import os

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


def main():
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
