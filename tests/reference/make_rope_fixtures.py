#!/usr/bin/env python3
"""Outside-oracle fixtures for RoPE scaling (issue 15): transformers' own rotary code for the six
RoPE types it defines (default, linear, dynamic, yarn, longrope, llama3).

Upstream versions used for the committed fixtures: torch 2.11.0, transformers 4.57.6,
safetensors 0.8.0, numpy 2.4.6. CPU, fp32 models, eager attention.

Writes tests/fixtures/rope/:

  inv_freq_cases.json   (a) transformers.modeling_rope_utils.ROPE_INIT_FUNCTIONS[type](config, seq_len)
                        for every type and a spread of parameters (rope_theta, head_dim, factor,
                        original context, yarn's beta_fast / beta_slow / mscale / mscale_all_dim /
                        attention_factor / truncate, longrope's factor lists with and without the
                        top-level original_max_position_embeddings, dynamic and longrope at several
                        sequence lengths): inv_freq and the attention factor. transformers computes
                        them in float32 (torch.float, .float(), float32 arange); here the very same
                        functions run with those names pointing at float64, so the values are
                        transformers' formulas in double and can be compared at 1e-12.
                        Each case: the config.json fields it used, seq_len (null: none), the results.

  models.json +         (b) six tiny Llama models that differ only in RoPE: the weights are
  expected.safetensors  tests/fixtures/families/llama3/hf/model.safetensors (hidden 64, 4 heads of 16,
                        2 layers, vocab 512, made by make_family_fixtures.py), each type given its own
                        config.json (models.json "configs"; llama3 is that folder's own config, which is
                        also what llama.cpp's converter turned into families/llama3/model.gguf with its
                        rope_freqs tensor). The original context is 64 and the prompt 256 tokens (4x).
                        For each type, from a freshly loaded model (dynamic NTK keeps state between
                        calls in transformers):
                          logits_<type>  [len(positions), 512]: one forward over the whole prompt,
                                         at models.json "positions";
                          kgrad_<type>   [32, 64]: d loss / d model.layers.0.self_attn.k_proj.weight,
                                         loss = mean next-token cross-entropy over the prompt (its
                                         value in models.json "loss");
                          decode_<type>  (dynamic, longrope) [len(decode_positions), 512]: the prompt's
                                         first 48 tokens in one call, then one token per call with the
                                         KV cache (what generate does), logits at "decode_positions".
                        models.json "ablations": how far each type's logits are from the default
                        type's, and each decode from its full forward (the tests can tell them apart).

Usage: flock /tmp/frugal-cpu.lock /opt/frugal-ref/bin/python tests/reference/make_rope_fixtures.py
"""
import contextlib
import json
import os
import shutil
import tempfile

import numpy as np
import torch
import transformers
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "rope")
FAMILY_HF = os.path.join(ROOT, "tests", "fixtures", "families", "llama3", "hf")
SEED = 15015


# ---------------------------------------------------------------- (a) inv_freq and attention factor

@contextlib.contextmanager
def float64_as_float32():
    """transformers' rope functions name float32 three ways; point all three at float64."""
    saved = torch.float, torch.float32, torch.Tensor.float
    torch.float = torch.float64
    torch.float32 = torch.float64
    torch.Tensor.float = torch.Tensor.double
    try:
        yield
    finally:
        torch.float, torch.float32, torch.Tensor.float = saved


def case(head_dim, theta, max_pos, rope_scaling, seq_lens=(None,), top_level=None):
    fields = dict(head_dim=head_dim, hidden_size=head_dim * 4, num_attention_heads=4, rope_theta=theta,
                  max_position_embeddings=max_pos, rope_scaling=rope_scaling, **(top_level or {}))
    return [(fields, s) for s in seq_lens]


def inv_freq_cases():
    gen = np.random.default_rng(SEED)
    cases = []
    for d, theta in [(64, 10000.0), (128, 500000.0), (16, 1000000.0)]:
        cases += case(d, theta, 2048, None)
    for d, theta, f in [(64, 10000.0, 2.0), (128, 500000.0, 4.5), (16, 10000.0, 8.0)]:
        cases += case(d, theta, 4096, {"rope_type": "linear", "factor": f})
    for d, theta, f, mp in [(64, 10000.0, 2.0, 2048), (128, 500000.0, 4.0, 4096), (16, 1000000.0, 8.0, 64)]:
        cases += case(d, theta, mp, {"rope_type": "dynamic", "factor": f},
                      seq_lens=(None, mp // 2, mp, mp + 1, 3 * mp, 16 * mp))
    cases += case(64, 10000.0, 2048, {"type": "dynamic", "factor": 2.0}, seq_lens=(5000,))  # old spelling
    yarns = [
        (64, 10000.0, 16384, {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 4096}),
        (128, 1000000.0, 131072, {"rope_type": "yarn", "factor": 32.0, "original_max_position_embeddings": 4096}),
        (128, 10000.0, 4096, {"rope_type": "yarn", "factor": 8.0}),  # original falls back to max_position_embeddings
        (64, 500000.0, 32768, {"rope_type": "yarn", "factor": 16.5, "original_max_position_embeddings": 2048,
                               "beta_fast": 64.0, "beta_slow": 2.0}),
        (64, 10000.0, 16384, {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 4096,
                              "attention_factor": 0.8}),
        (128, 10000.0, 163840, {"rope_type": "yarn", "factor": 40.0, "original_max_position_embeddings": 4096,
                                "mscale": 0.707, "mscale_all_dim": 0.707, "beta_fast": 32, "beta_slow": 1}),
        (128, 10000.0, 163840, {"rope_type": "yarn", "factor": 40.0, "original_max_position_embeddings": 4096,
                                "mscale": 1.0, "mscale_all_dim": 0.5}),
        (64, 10000.0, 16384, {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 4096,
                              "truncate": False}),
        (16, 10000.0, 256, {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64}),
        (64, 10000.0, 4096, {"rope_type": "yarn", "factor": 1.0, "original_max_position_embeddings": 4096}),
    ]
    for d, theta, mp, rs in yarns:
        cases += case(d, theta, mp, rs)
    for d, theta in [(64, 10000.0), (16, 10000.0)]:
        short = [float(x) for x in gen.uniform(1.0, 1.5, d // 2)]
        long = [float(x) for x in gen.uniform(1.0, 40.0, d // 2)]
        rs = {"rope_type": "longrope", "short_factor": short, "long_factor": long}
        # Phi-3's form: top-level original_max_position_embeddings, factor implied by it.
        cases += case(d, theta, 131072, dict(rs), seq_lens=(None, 4096, 4097, 100000),
                      top_level={"original_max_position_embeddings": 4096})
        # No top-level original: factor from rope_scaling, original = max_position_embeddings.
        cases += case(d, theta, 4096, dict(rs, factor=8.0), seq_lens=(None, 4096, 8192))
        cases += case(d, theta, 4096, dict(rs, attention_factor=1.25), seq_lens=(8192,))
    llama3s = [
        (128, 500000.0, 131072, 8.0, 1.0, 4.0, 8192),
        (64, 500000.0, 131072, 32.0, 1.0, 4.0, 8192),
        (16, 500000.0, 256, 32.0, 1.0, 4.0, 64),
        (64, 10000.0, 16384, 4.0, 2.0, 8.0, 1024),
    ]
    for d, theta, mp, f, lo, hi, orig in llama3s:
        cases += case(d, theta, mp, {"rope_type": "llama3", "factor": f, "low_freq_factor": lo,
                                     "high_freq_factor": hi, "original_max_position_embeddings": orig})
    out = []
    with float64_as_float32():
        for fields, seq_len in cases:
            config = LlamaConfig(**fields)
            rs = fields["rope_scaling"] or {}
            rope_type = rs.get("rope_type", rs.get("type", "default"))
            inv, att = ROPE_INIT_FUNCTIONS[rope_type](config, "cpu", seq_len)
            assert inv.dtype == torch.float64, (rope_type, inv.dtype)
            out.append({"type": rope_type, "config": fields, "seq_len": seq_len,
                        "inv_freq": inv.tolist(), "attention_factor": float(att)})
    return out


# ---------------------------------------------------------------- (b) tiny models, one per type

ORIGINAL, PROMPT_LEN, DECODE_FROM = 64, 256, 48
POSITIONS = [0, 31, 63, 64, 100, 150, 200, 255]
DECODE_POSITIONS = [48, 63, 64, 65, 100, 200, 255]


def model_configs():
    with open(os.path.join(FAMILY_HF, "config.json")) as f:
        base = json.load(f)
    gen = np.random.default_rng(SEED + 1)
    plain = dict(base, rope_theta=10000.0, rope_scaling=None, max_position_embeddings=PROMPT_LEN)
    return {
        "default": plain,
        "linear": dict(plain, rope_scaling={"rope_type": "linear", "factor": 4.0}),
        # dynamic stretches past max_position_embeddings, the original context for this type.
        "dynamic": dict(plain, max_position_embeddings=ORIGINAL, rope_scaling={"rope_type": "dynamic", "factor": 4.0}),
        "yarn": dict(plain, rope_scaling={"rope_type": "yarn", "factor": 4.0,
                                          "original_max_position_embeddings": ORIGINAL}),
        "longrope": dict(plain, original_max_position_embeddings=ORIGINAL,
                         rope_scaling={"rope_type": "longrope",
                                       "short_factor": [float(x) for x in gen.uniform(1.0, 1.5, 8)],
                                       "long_factor": [float(x) for x in gen.uniform(1.0, 16.0, 8)]}),
        "llama3": base,  # the family fixture's own (its GGUF carries rope_freqs)
    }


def load(config, work):
    folder = os.path.join(work, "m")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    shutil.copy(os.path.join(FAMILY_HF, "model.safetensors"), folder)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f)
    return LlamaForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager")


def prompt():
    gen = torch.Generator().manual_seed(SEED)
    return torch.randint(3, 512, (PROMPT_LEN,), generator=gen).tolist()


def full_logits(config, ids, work):
    model = load(config, work).eval()
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0]


def loss_and_kgrad(config, ids, work):
    model = load(config, work).train()
    out = model(input_ids=torch.tensor([ids]), labels=torch.tensor([ids]))
    out.loss.backward()
    return out.loss.item(), model.model.layers[0].self_attn.k_proj.weight.grad.detach().clone()


def decode_logits(config, ids, work):
    model = load(config, work).eval()
    rows = {}
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids[:DECODE_FROM]]), use_cache=True)
        past = out.past_key_values
        rows[DECODE_FROM - 1] = out.logits[0, -1]
        for t in range(DECODE_FROM, len(ids)):
            out = model(input_ids=torch.tensor([[ids[t]]]), past_key_values=past, use_cache=True,
                        cache_position=torch.tensor([t]), position_ids=torch.tensor([[t]]))
            past = out.past_key_values
            rows[t] = out.logits[0, -1]
    return torch.stack([rows[p] for p in DECODE_POSITIONS])


def main():
    torch.set_num_threads(max(1, int(os.environ.get("REF_THREADS", "2"))))
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "inv_freq_cases.json"), "w") as f:
        json.dump({"source": f"transformers {transformers.__version__} modeling_rope_utils.ROPE_INIT_FUNCTIONS, "
                             f"torch {torch.__version__}, evaluated in float64; tests/reference/make_rope_fixtures.py",
                   "cases": inv_freq_cases()}, f, separators=(",", ":"))

    work = tempfile.mkdtemp()
    ids = prompt()
    configs = model_configs()
    tensors, losses, ablations = {}, {}, {}
    for name, config in configs.items():
        logits = full_logits(config, ids, work)
        tensors[f"logits_{name}"] = logits[POSITIONS].contiguous()
        losses[name], kgrad = loss_and_kgrad(config, ids, work)
        tensors[f"kgrad_{name}"] = kgrad.contiguous()
        if name in ("dynamic", "longrope"):
            dec = decode_logits(config, ids, work)
            tensors[f"decode_{name}"] = dec.contiguous()
            ablations[f"{name}_decode_vs_full_forward"] = float((dec - logits[DECODE_POSITIONS]).abs().max())
    for name in configs:
        if name != "default":
            ablations[f"{name}_vs_default"] = float((tensors[f"logits_{name}"] - tensors["logits_default"]).abs().max())
    shutil.rmtree(work)
    save_file(tensors, os.path.join(OUT, "expected.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(OUT, "models.json"), "w") as f:
        json.dump({"source": f"transformers {transformers.__version__}, torch {torch.__version__}, fp32, eager "
                             f"attention; tests/reference/make_rope_fixtures.py",
                   "weights": "tests/fixtures/families/llama3/hf/model.safetensors",
                   "prompt": ids, "positions": POSITIONS, "decode_from": DECODE_FROM,
                   "decode_positions": DECODE_POSITIONS, "configs": configs, "loss": losses,
                   "ablations_max_abs_logit_diff": ablations}, f, indent=1)
    for fn in os.listdir(OUT):
        os.chmod(os.path.join(OUT, fn), 0o644)
    print(json.dumps(ablations, indent=1))


if __name__ == "__main__":
    main()
