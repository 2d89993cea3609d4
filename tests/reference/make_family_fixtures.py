#!/usr/bin/env python3
"""Outside-oracle fixtures for six model families, made by transformers from tiny random-weight
models: Llama 3.2-style Llama (`llama3`), Qwen2/2.5 (`qwen2`), Qwen3 (`qwen3`), Gemma 3 text
(`gemma3`), Mistral (`mistral`) and Phi-3 (`phi3`). The C++ tests load each family's HF folder and
its GGUF and compare with what transformers computed here.

Upstream versions used for the committed fixtures: torch 2.11.0, transformers 4.57.6, peft 0.21.2,
gguf 0.19.0 (the gguf-py vendored with llama.cpp, same version), safetensors 0.8.0, sentencepiece
0.2.3, numpy 2.4.6; the GGUF files were written by llama.cpp's convert_hf_to_gguf.py as vendored in
llama-cpp-python 0.3.36 (/work/ext/llama_cpp_python-0.3.36/vendor/llama.cpp), `--outtype f32`.
CPU, fp32, eager attention everywhere (explicit softmax of the scores, no fused kernels).

Each model is built from its family's own transformers config class with hidden 64, 4 query heads,
2 key/value heads, intermediate 128, 2 layers (Gemma 3: 6 layers, 5 sliding : 1 global, and
intermediate 64 so that its three weight-sized files stay near 2 MB together),
max_position_embeddings 256, vocab 512. Weights are drawn from a seeded generator so that no
feature is invisible: linear weights N(0, 0.15) (q/k N(0, 0.25), so attention is peaked and RoPE and
windows change the logits), embeddings N(0, 0.25) (Gemma 3: N(0, 0.1), as it scales them by 8), biases N(0, 0.1), RMSNorm weights 1 + N(0, 0.1)
(Gemma 3 stores w and multiplies by 1 + w, so it gets w = N(0, 0.1)). A loader that drops a bias,
a norm, the Gemma norm offset, a RoPE variant or a sliding window is off by far more than fp32
noise: expected.json's "ablations" records by how much, measured with transformers itself.

Family choices:
  * llama3: LlamaConfig as Llama 3.2 (tied embeddings, rope_theta 500000, rope_scaling llama3 with
    the real factor 32, low_freq_factor 1, high_freq_factor 4), but original_max_position_embeddings
    64 instead of 8192: at head_dim 16 and prompts <= 96 tokens the real 8192 would only touch
    frequencies that hardly turn; with 64 the 8 frequencies fall in all three bands (kept, smoothed,
    divided by 32). The converter writes the per-frequency divisors as `rope_freqs.weight`.
  * qwen2: q/k/v biases, untied head, rope_theta 1e6, no sliding window (Qwen2.5's default).
  * qwen3: q/k RMSNorm per head, head_dim 32 != 64/4, no biases, tied embeddings (as Qwen3 <= 4B).
  * gemma3: Gemma3ForCausalLM + Gemma3TextConfig: 6 layers (layer_types 5 sliding, then 1 full),
    sliding_window 8, rope_theta 1e6 (global) vs rope_local_base_freq 1e4 (sliding), head_dim 16,
    query_pre_attn_scalar 24 (!= head_dim), gelu_pytorch_tanh, pre+post norms, q/k norms, tied
    embeddings, embeddings times sqrt(64) (rounded to the dtype, as transformers does).
  * mistral: MistralConfig, sliding_window 16, untied head, rope_theta 1e6.
  * phi3: Phi3Config (fused qkv_proj and gate_up_proj), default RoPE (theta 10000), untied head.

Tokenizer: every family uses the stories260K SentencePiece model (tok512.model, vocab 512, MIT, from
llama2.c), saved into each hf/ folder by transformers' LlamaTokenizerFast (tokenizer.model,
tokenizer.json, tokenizer_config.json, special_tokens_map.json). No family needs a BPE
tokenizer.json here: in this llama.cpp's converter LlamaModel (also used for Mistral),
Qwen2Model and Qwen3Model try `_set_vocab_sentencepiece` first and fall back to GPT-2 BPE only when
there is no tokenizer.model; Gemma3Model takes SentencePiece when tokenizer.model exists; Phi3 reads
tokenizer.model unless tokenizer_config says GPT2Tokenizer. The fixtures compare token ids, not text.

Writes tests/fixtures/families/<family>/:
  hf/                     transformers save_pretrained folder (F32 safetensors) + tokenizer files
  model.gguf              convert_hf_to_gguf.py --outtype f32 of hf/
  expected.safetensors    logits_0, logits_1, logits_2: transformers fp32 logits [T, 512] per prompt
  expected.json           prompts, argmax and top-2 margin per position, 32-token greedy
                          continuations (generate(do_sample=False), eos disabled), the config values
                          exercised, RoPE inverse frequencies, the GGUF's metadata and tensors and
                          what the converter did to each tensor (checked here value by value),
                          transformers' own reading of the GGUF, and the ablations
  lora/                   PEFT LoRA parity (as tests/reference/make_peft_parity_fixture.py):
                          init_adapter/ (BF16), batches.json (ids, labels, masks, 10 losses),
                          step1_grads.safetensors
  full_step1_grads.safetensors  full fine-tuning: gradient of every weight, one step on batch 0

Usage: flock /tmp/frugal-cpu.lock /opt/frugal-ref/bin/python tests/reference/make_family_fixtures.py \
           [family ...] [--no-train]
"""
import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import torch
import transformers
from safetensors.torch import load_file, save_file
from transformers import (AutoConfig, AutoModelForCausalLM, Gemma3ForCausalLM, Gemma3TextConfig, GenerationConfig,
                          LlamaConfig, LlamaForCausalLM, LlamaTokenizerFast, MistralConfig, MistralForCausalLM,
                          Phi3Config, Phi3ForCausalLM, Qwen2Config, Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "families")
TOKENIZER_MODEL = os.path.join(ROOT, "..", "shared", "data", "stories260K", "tok512.model")
LLAMA_CPP = "/work/ext/llama_cpp_python-0.3.36/vendor/llama.cpp"
CONVERTER = os.path.join(LLAMA_CPP, "convert_hf_to_gguf.py")
GGUF_PY = os.path.join(LLAMA_CPP, "gguf-py")
sys.path.insert(0, GGUF_PY)  # read the GGUF with the gguf-py the converter wrote it with
import gguf  # noqa: E402

SEED = 20260
VOCAB, HIDDEN, HEADS, KV_HEADS, FFN, LAYERS, MAX_POS = 512, 64, 4, 2, 128, 2, 256
UNK, BOS, EOS = 0, 1, 2
PROMPT_LENGTHS = [24, 40, 64]
NEW_TOKENS = 32
W_STD, QK_STD, EMB_STD, BIAS_STD, NORM_STD = 0.15, 0.25, 0.25, 0.1, 0.1
# Gemma multiplies the embeddings by sqrt(hidden) = 8: a smaller draw keeps the residual stream from
# drowning the blocks (with 0.25 every argmax was the input token).
GEMMA_EMB_STD = 0.1
GEMMA_FFN = 64

COMMON = dict(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=FFN, num_hidden_layers=LAYERS,
              num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, max_position_embeddings=MAX_POS,
              bos_token_id=BOS, eos_token_id=EOS, attn_implementation="eager")
ATTN_MLP = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

FAMILIES = {
    "llama3": dict(
        config=lambda: LlamaConfig(**COMMON, rms_norm_eps=1e-5, tie_word_embeddings=True, rope_theta=500000.0,
                                   rope_scaling={"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                                                 "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
                                   hidden_act="silu", attention_bias=False, mlp_bias=False),
        model=LlamaForCausalLM, targets=ATTN_MLP,
        exercised=["tie_word_embeddings", "rope_theta", "rope_scaling", "rms_norm_eps", "hidden_act"]),
    "qwen2": dict(
        config=lambda: Qwen2Config(**COMMON, rms_norm_eps=1e-6, tie_word_embeddings=False, rope_theta=1000000.0,
                                   use_sliding_window=False, hidden_act="silu"),
        model=Qwen2ForCausalLM, targets=ATTN_MLP,
        exercised=["tie_word_embeddings", "rope_theta", "rms_norm_eps", "use_sliding_window", "sliding_window",
                   "layer_types", "hidden_act"]),
    "qwen3": dict(
        config=lambda: Qwen3Config(**COMMON, head_dim=32, rms_norm_eps=1e-6, tie_word_embeddings=True,
                                   rope_theta=1000000.0, attention_bias=False, use_sliding_window=False,
                                   hidden_act="silu"),
        model=Qwen3ForCausalLM, targets=ATTN_MLP,
        exercised=["head_dim", "tie_word_embeddings", "rope_theta", "rms_norm_eps", "attention_bias",
                   "use_sliding_window", "sliding_window", "layer_types", "hidden_act"]),
    "gemma3": dict(
        config=lambda: Gemma3TextConfig(**dict(COMMON, num_hidden_layers=6, intermediate_size=GEMMA_FFN), head_dim=16, rms_norm_eps=1e-6,
                                        tie_word_embeddings=True, rope_theta=1000000.0, rope_local_base_freq=10000.0,
                                        sliding_window=8, query_pre_attn_scalar=24,
                                        hidden_activation="gelu_pytorch_tanh", final_logit_softcapping=None,
                                        attn_logit_softcapping=None, rope_scaling=None, pad_token_id=UNK),
        model=Gemma3ForCausalLM, targets=ATTN_MLP,
        exercised=["head_dim", "tie_word_embeddings", "rope_theta", "rope_local_base_freq", "sliding_window",
                   "layer_types", "query_pre_attn_scalar", "hidden_activation", "rms_norm_eps",
                   "final_logit_softcapping", "attn_logit_softcapping", "rope_scaling"]),
    "mistral": dict(
        config=lambda: MistralConfig(**COMMON, rms_norm_eps=1e-5, tie_word_embeddings=False, rope_theta=1000000.0,
                                     sliding_window=16, hidden_act="silu"),
        model=MistralForCausalLM, targets=ATTN_MLP,
        exercised=["tie_word_embeddings", "rope_theta", "sliding_window", "rms_norm_eps", "hidden_act"]),
    "phi3": dict(
        config=lambda: Phi3Config(**COMMON, rms_norm_eps=1e-5, tie_word_embeddings=False, rope_theta=10000.0,
                                  rope_scaling=None, original_max_position_embeddings=MAX_POS,
                                  sliding_window=None, hidden_act="silu", pad_token_id=UNK),
        model=Phi3ForCausalLM, targets=["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
        exercised=["tie_word_embeddings", "rope_theta", "rope_scaling", "original_max_position_embeddings",
                   "partial_rotary_factor", "sliding_window", "rms_norm_eps", "hidden_act"]),
}


def is_gemma(family):
    return family == "gemma3"


# ---------------------------------------------------------------- building and saving the models

def init_weights(model, family, gen):
    """Seeded values for every parameter (see the docstring); tied lm_head is the embedding."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            def normal(std):
                return torch.randn(p.shape, generator=gen, dtype=torch.float32) * std
            if name.endswith("norm.weight"):
                p.copy_(normal(NORM_STD) if is_gemma(family) else 1.0 + normal(NORM_STD))
            elif name.endswith(".bias"):
                p.copy_(normal(BIAS_STD))
            elif "embed_tokens" in name:
                p.copy_(normal(GEMMA_EMB_STD if is_gemma(family) else EMB_STD))
            elif any(k in name for k in ("q_proj", "k_proj", "qkv_proj")):
                p.copy_(normal(QK_STD))
            else:
                p.copy_(normal(W_STD))


def save_tokenizer(folder):
    tok = LlamaTokenizerFast(vocab_file=TOKENIZER_MODEL, from_slow=True, legacy=True, add_bos_token=True,
                             add_eos_token=False)
    tok.save_pretrained(folder)
    return tok


def build(family):
    spec = FAMILIES[family]
    torch.manual_seed(SEED)
    config = spec["config"]()
    model = spec["model"](config).float().eval()
    gen = torch.Generator().manual_seed(SEED + sum(map(ord, family)))
    init_weights(model, family, gen)
    return model


def load_hf(folder, family):
    return FAMILIES[family]["model"].from_pretrained(folder, dtype=torch.float32, attn_implementation="eager").eval()


def convert(hf_dir, out):
    env = dict(os.environ, PYTHONPATH=GGUF_PY)
    res = subprocess.run([sys.executable, CONVERTER, hf_dir, "--outtype", "f32", "--outfile", out],
                         env=env, capture_output=True, text=True)
    if res.returncode != 0:
        sys.stderr.write(res.stdout + res.stderr)
        raise SystemExit(f"convert_hf_to_gguf.py failed on {hf_dir}")
    warnings = [line for line in res.stderr.splitlines() if "WARNING" in line]
    return warnings


# ---------------------------------------------------------------- transformers' reference outputs

def prompts():
    gen = torch.Generator().manual_seed(SEED + 7)
    return [torch.randint(3, VOCAB, (n,), generator=gen).tolist() for n in PROMPT_LENGTHS]


def forward_logits(model, ids):
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0].float()


def greedy(model, ids):
    gc = GenerationConfig(max_new_tokens=NEW_TOKENS, do_sample=False, eos_token_id=None, pad_token_id=UNK,
                          bos_token_id=BOS, num_beams=1)
    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                             generation_config=gc)
    cont = out[0, len(ids):].tolist()
    assert len(cont) == NEW_TOKENS, len(cont)
    # The cached generation must agree with one full forward over prompt + continuation.
    full = forward_logits(model, ids + cont)
    assert full[len(ids) - 1:-1].argmax(-1).tolist() == cont, "generate() disagrees with the full forward"
    top2 = full[len(ids) - 1:-1].topk(2, dim=-1).values
    return cont, (top2[:, 0] - top2[:, 1]).tolist()


def rope_inv_freqs(model):
    out = {}
    for name, buf in model.named_buffers():
        if name.endswith("inv_freq"):
            out[name] = [float(v) for v in buf]
    return out


def config_values(config, keys):
    d = config.to_dict()
    return {k: d.get(k, getattr(config, k, None)) for k in keys}


# ---------------------------------------------------------------- what the converter wrote

def gguf_value(field):
    types = field.types
    if not types:
        return None
    if types[0] == gguf.GGUFValueType.ARRAY:
        n = len(field.data)
        if n > 16:
            return {"array_of": types[-1].name, "length": n}
        return [field.contents(i) for i in range(n)]
    return field.contents()


def read_gguf(path):
    reader = gguf.GGUFReader(path)
    meta = {}
    for name, field in reader.fields.items():
        if name.startswith("GGUF."):
            continue
        meta[name] = gguf_value(field)
    tensors = {t.name: np.array(t.data).reshape([int(x) for x in reversed(t.shape)]) for t in reader.tensors}
    shapes = {t.name: {"ggml_ne": [int(x) for x in t.shape], "type": t.tensor_type.name} for t in reader.tensors}
    return meta, tensors, shapes


def rope_row_permute(w, n_head):
    """HF rotate-half rows -> interleaved pairs per head, the reordering llama.cpp's LLAMA converter
    applies to q/k rows (written here from its description, to check the files against)."""
    rows = w.shape[0]
    return w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def explain_tensors(family, model, gguf_tensors):
    """For each GGUF tensor: which HF tensor it holds and how it was transformed, found by trying the
    candidate transforms and requiring exact equality."""
    sd = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    config = model.config
    arch = {"llama3": gguf.MODEL_ARCH.LLAMA, "mistral": gguf.MODEL_ARCH.LLAMA, "qwen2": gguf.MODEL_ARCH.QWEN2,
            "qwen3": gguf.MODEL_ARCH.QWEN3, "gemma3": gguf.MODEL_ARCH.GEMMA3, "phi3": gguf.MODEL_ARCH.PHI3}[family]
    tmap = gguf.get_tensor_name_map(arch, config.num_hidden_layers)
    hf_of = {}
    for hf_name in sd:
        g = tmap.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if g is not None:
            hf_of.setdefault(g, []).append(hf_name)
    out = {}
    for gname, data in gguf_tensors.items():
        candidates = hf_of.get(gname, [])
        found = None
        for hf_name in candidates:
            w = sd[hf_name]
            trials = [("identity", w), ("plus_one", w + 1.0)]
            if w.ndim >= 1 and w.shape[0] % (2 * config.num_attention_heads) == 0:
                trials.append((f"rope_row_permute(n_head={config.num_attention_heads})",
                               rope_row_permute(w, config.num_attention_heads)))
            if w.ndim >= 1 and w.shape[0] % (2 * config.num_key_value_heads) == 0:
                trials.append((f"rope_row_permute(n_head={config.num_key_value_heads})",
                               rope_row_permute(w, config.num_key_value_heads)))
            for how, t in trials:
                if t.shape == data.shape and np.array_equal(t.astype(np.float32), data):
                    found = {"hf": hf_name, "transform": how}
                    break
            if found:
                break
        out[gname] = found or {"hf": None, "transform": "generated by the converter (no HF tensor)"}
    unused = sorted(set(sd) - {v["hf"] for v in out.values() if v["hf"]})
    return out, unused


# ---------------------------------------------------------------- transformers reading the GGUF

def transformers_reads_gguf(family, fam_dir, hf_model, expected_logits, ps):
    """transformers' own GGUF loader: once with the config it derives from the GGUF metadata, once
    with the HF folder's config and only the tensors from the GGUF."""
    report = {}
    for mode in ("gguf_config", "hf_config"):
        try:
            kwargs = dict(gguf_file="model.gguf", dtype=torch.float32, attn_implementation="eager")
            if mode == "hf_config":
                kwargs["config"] = AutoConfig.from_pretrained(os.path.join(fam_dir, "hf"))
            try:
                m = AutoModelForCausalLM.from_pretrained(fam_dir, **kwargs).eval()
            except NotImplementedError:
                if mode != "hf_config":
                    raise
                # transformers refuses config model_type mistral with a GGUF whose architecture is
                # llama: read the tensors as transformers maps them, then run them in the HF class.
                g = AutoModelForCausalLM.from_pretrained(fam_dir, gguf_file="model.gguf", dtype=torch.float32)
                m = FAMILIES[family]["model"](kwargs["config"]).float().eval()
                m.config._attn_implementation = "eager"
                m.load_state_dict(g.state_dict(), strict=True)
                entry_note = "GGUF tensors read by transformers as " + type(g).__name__ + ", run in " + \
                    type(m).__name__ + " with the HF config"
            else:
                entry_note = None
            diffs = [float((forward_logits(m, ids) - expected_logits[i]).abs().max()) for i, ids in enumerate(ps)]
            entry = {"loaded_as": type(m).__name__, "max_abs_logit_diff": diffs}
            if entry_note:
                entry["note"] = entry_note
            if mode == "gguf_config":
                entry["derived_config_diffs"] = {
                    k: {"gguf": v, "hf": hf_model.config.to_dict().get(k)}
                    for k, v in m.config.to_dict().items()
                    if k in FAMILIES[family]["exercised"] + ["head_dim", "vocab_size", "num_key_value_heads"]
                    and v != hf_model.config.to_dict().get(k)}
            report[mode] = entry
        except Exception as e:  # record what transformers cannot read
            report[mode] = {"error": f"{type(e).__name__}: {' '.join(str(e).split())[:400]}"}
    return report


# ---------------------------------------------------------------- ablations: what a wrong loader gets

def ablations(family, folder, expected_logits, ps):
    """Max |logit difference| against the reference when one feature is dropped, each computed by
    transformers on the same weights with the feature removed."""
    sd = load_file(os.path.join(folder, "model.safetensors"))
    spec = FAMILIES[family]
    base = AutoConfig.from_pretrained(folder)

    def run(config_changes=None, sd_change=None):
        config = AutoConfig.from_pretrained(folder, **(config_changes or {}))
        config._attn_implementation = "eager"
        m = spec["model"](config).float().eval()
        s = dict(sd)
        if sd_change:
            s = sd_change(s)
        missing, unexpected = m.load_state_dict(s, strict=False)
        assert not unexpected and all("lm_head" in k for k in missing), (missing, unexpected)
        if base.tie_word_embeddings:
            m.tie_weights()
        return max(float((forward_logits(m, ids) - expected_logits[i]).abs().max()) for i, ids in enumerate(ps))

    def norms_to(value):
        return lambda s: {k: (torch.full_like(v, value) if k.endswith("norm.weight") else v) for k, v in s.items()}

    out = {"norm_weights_ignored": run(sd_change=norms_to(0.0 if is_gemma(family) else 1.0))}
    if family == "llama3":
        out["llama3_rope_scaling_ignored"] = run({"rope_scaling": None})
    if family == "qwen2":
        out["qkv_biases_ignored"] = run(sd_change=lambda s: {k: (torch.zeros_like(v) if k.endswith(".bias") else v)
                                                             for k, v in s.items()})
    if family in ("qwen3", "gemma3"):
        out["qk_norms_ignored"] = run(sd_change=lambda s: {
            k: (torch.full_like(v, 0.0 if is_gemma(family) else 1.0) if ("q_norm" in k or "k_norm" in k) else v)
            for k, v in s.items()})
    if family == "gemma3":
        out["sliding_window_ignored"] = run({"sliding_window": 4096})
        out["local_rope_base_ignored(rope_theta everywhere)"] = run({"rope_local_base_freq": base.rope_theta})
        out["query_pre_attn_scalar_ignored(head_dim used)"] = run({"query_pre_attn_scalar": base.head_dim})
        out["norm_plus_one_ignored"] = run(sd_change=lambda s: {k: (v - 1.0 if k.endswith("norm.weight") else v)
                                                               for k, v in s.items()})
        out["gelu_exact_instead_of_tanh"] = run({"hidden_activation": "gelu"})
    if family == "mistral":
        out["sliding_window_ignored"] = run({"sliding_window": None})
    if family == "phi3":
        out["rope_theta_1e6_instead_of_1e4"] = run({"rope_theta": 1000000.0})
    return out


# ---------------------------------------------------------------- training references

LORA_R, LORA_ALPHA, LORA_DROPOUT, B_STD = 2, 4, 0.0, 0.05
LR, BETAS, EPS, WEIGHT_DECAY, STEPS = 1e-3, (0.9, 0.999), 1e-8, 0.0, 10
TRAIN_T, TRAIN_PROMPT = 48, 8
TRAIN_ROWS = [[TRAIN_T, 37], [TRAIN_T, 29]]  # real tokens per row of each micro-batch, right padded
PAD = EOS


def bf16_round(t):
    return t.to(torch.bfloat16).to(torch.float32)


def train_batches():
    gen = torch.Generator().manual_seed(SEED + 11)
    batches = []
    for rows in TRAIN_ROWS:
        ids, labels, mask = [], [], []
        for n in rows:
            toks = torch.randint(3, VOCAB, (n,), generator=gen).tolist()
            ids.append(toks + [PAD] * (TRAIN_T - n))
            labels.append([-100] * TRAIN_PROMPT + toks[TRAIN_PROMPT:] + [-100] * (TRAIN_T - n))
            mask.append([1] * n + [0] * (TRAIN_T - n))
        batches.append({"input_ids": ids, "labels": labels, "attention_mask": mask})
    return batches


def step_inputs(b):
    return dict(input_ids=torch.tensor(b["input_ids"]), attention_mask=torch.tensor(b["attention_mask"]),
                labels=torch.tensor(b["labels"]))


def lora_fixture(family, fam_dir):
    from peft import LoraConfig, get_peft_model
    out = os.path.join(fam_dir, "lora")
    shutil.rmtree(out, ignore_errors=True)
    targets = FAMILIES[family]["targets"]
    torch.manual_seed(SEED)
    base = load_hf(os.path.join(fam_dir, "hf"), family)
    config = LoraConfig(r=LORA_R, lora_alpha=LORA_ALPHA, lora_dropout=LORA_DROPOUT, target_modules=targets,
                        bias="none", task_type="CAUSAL_LM")
    model = get_peft_model(base, config)
    model.train()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert len(trainable) == 2 * len(targets) * base.config.num_hidden_layers, len(trainable)
    gen = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for n, p in trainable:
            if ".lora_B." in n:
                p.copy_(torch.randn(p.shape, generator=gen) * B_STD)
            p.copy_(bf16_round(p))

    def key(n):
        return n.replace(".default.", ".")

    adapter_dir = os.path.join(out, "init_adapter")
    model.peft_config["default"].base_model_name_or_path = f"tests/fixtures/families/{family}/hf"
    model.save_pretrained(adapter_dir)
    if os.path.exists(os.path.join(adapter_dir, "README.md")):
        os.remove(os.path.join(adapter_dir, "README.md"))
    # PEFT keeps target_modules as a set, written in a different order each run: sort it.
    cfg_path = os.path.join(adapter_dir, "adapter_config.json")
    with open(cfg_path) as f:
        adapter_config = json.load(f)
    adapter_config["target_modules"] = sorted(adapter_config["target_modules"])
    with open(cfg_path, "w") as f:
        json.dump(adapter_config, f, indent=2, sort_keys=True)
    st_path = os.path.join(adapter_dir, "adapter_model.safetensors")
    tensors = load_file(st_path)
    assert set(tensors) == {key(n) for n, _ in trainable}
    save_file({k: v.to(torch.bfloat16).contiguous() for k, v in tensors.items()}, st_path, metadata={"format": "pt"})
    stored = load_file(st_path)
    for n, p in trainable:
        assert torch.equal(stored[key(n)].float(), p.detach()), n

    batches = train_batches()
    opt = torch.optim.AdamW([p for _, p in trainable], lr=LR, betas=BETAS, eps=EPS, weight_decay=WEIGHT_DECAY)
    losses, grads = [], {}
    for step in range(STEPS):
        opt.zero_grad(set_to_none=True)
        loss = model(**step_inputs(batches[step % 2])).loss
        loss.backward()
        losses.append(loss.item())
        if step == 0:
            grads = {key(n): p.grad.detach().clone().contiguous() for n, p in trainable}
        opt.step()
    save_file(grads, os.path.join(out, "step1_grads.safetensors"), metadata={"format": "pt"})
    targets_per_batch = [sum(1 for row in b["labels"] for v in row[1:] if v != -100) for b in batches]
    with open(os.path.join(out, "batches.json"), "w") as f:
        json.dump({
            "source": f"transformers {transformers.__version__} + peft + torch {torch.__version__}, fp32, eager "
                      f"attention, on tests/fixtures/families/{family}/hf; tests/reference/make_family_fixtures.py",
            "r": LORA_R, "lora_alpha": LORA_ALPHA, "lora_dropout": LORA_DROPOUT, "target_modules": targets,
            "b_init_std": B_STD, "a_init": "PEFT kaiming-uniform (torch seed %d), all A and B rounded to bf16" % SEED,
            "seed": SEED, "optimizer": "AdamW", "lr": LR, "betas": list(BETAS), "eps": EPS,
            "weight_decay": WEIGHT_DECAY, "steps": STEPS, "batch_of_step": "step s (0-based) uses batches[s % 2]",
            "pad_id": PAD, "prompt_masked": TRAIN_PROMPT, "T": TRAIN_T,
            "loss": "mean over unmasked targets; position t predicts labels[t + 1]",
            "batches": [dict(b, target_count=c) for b, c in zip(batches, targets_per_batch)],
            "losses": losses,
            "step1_grad_norm": float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads.values()))),
        }, f, separators=(",", ":"))
    return losses


def full_grads_fixture(family, fam_dir):
    model = load_hf(os.path.join(fam_dir, "hf"), family)
    model.train()
    for p in model.parameters():
        p.requires_grad_(True)
    b = train_batches()[0]
    loss = model(**step_inputs(b)).loss
    loss.backward()
    grads = {n: p.grad.detach().clone().contiguous() for n, p in model.named_parameters()}
    save_file(grads, os.path.join(fam_dir, "full_step1_grads.safetensors"),
              metadata={"format": "pt"})  # one key: safetensors orders several keys differently each run
    return loss.item(), sorted(grads)


# ---------------------------------------------------------------- one family

NOTES = {
    "llama3": [
        "MistralForCausalLM and LlamaForCausalLM both convert with llama.cpp's LlamaModel: general.architecture "
        "'llama', q_proj/k_proj rows permuted from HF rotate-half order to interleaved pairs per head "
        "(k with n_head = num_key_value_heads).",
        "rope_scaling llama3 is not written as metadata: the converter computes one divisor per frequency pair and "
        "writes it as the F32 tensor rope_freqs.weight [head_dim/2]; llama.cpp divides each base frequency "
        "by it. The llama.rope.scaling.* keys are absent.",
        "Tied embeddings: no output.weight in the GGUF; token_embd.weight is the head.",
    ],
    "qwen2": [
        "Qwen2Model: no q/k row permutation (llama.cpp runs it with NEOX-style RoPE, the HF rotate-half order). "
        "Biases become blk.N.attn_{q,k,v}.bias.",
    ],
    "qwen3": [
        "Qwen3Model: no permutation; q_norm/k_norm become blk.N.attn_q_norm/attn_k_norm [head_dim]; "
        "head_dim 32 written as qwen3.attention.key_length/value_length.",
    ],
    "gemma3": [
        "Gemma3Model adds 1.0 to every tensor whose name ends in 'norm.weight' (input/post_attention/"
        "pre_feedforward/post_feedforward layernorms, q_norm, k_norm and the final norm): HF stores w and "
        "multiplies by (1 + w); GGUF stores 1 + w and multiplies by it. transformers' GGUF reader subtracts 1 again.",
        "The converter writes gemma3.attention.sliding_window and gemma3.rope.freq_base_swa (= rope_local_base_freq) "
        "but neither the layer pattern nor query_pre_attn_scalar: llama.cpp hard-codes the pattern (every 6th layer "
        "global, layer i sliding iff i % 6 < 5) and the attention scale 1/sqrt(head_dim) (1/sqrt(hidden/heads) for "
        "the 62-layer 27B). With query_pre_attn_scalar 24 != head_dim 16 here, the GGUF alone does not determine "
        "the model: a GGUF loader must take the scale from somewhere else (these HF folders), or it reproduces "
        "the 'query_pre_attn_scalar_ignored' ablation.",
        "Embedding scale sqrt(hidden) is not in the GGUF either (implied by the architecture). transformers "
        "multiplies by torch.tensor(hidden**0.5, dtype=float32) = 8.0 here.",
        "Sliding window semantics (transformers and llama.cpp agree): query i attends key j iff i - W < j <= i "
        "(W = sliding_window keys including itself).",
        "vocab is SentencePiece: the converter sets tokenizer.ggml.add_space_prefix false for Gemma 3, unlike the "
        "tok512 model's own normalizer; irrelevant to these id-based fixtures.",
    ],
    "mistral": [
        "MistralForCausalLM converts as general.architecture 'llama' with q/k permuted, and sliding_window is NOT "
        "written: the GGUF carries no window at all (llama.cpp runs Mistral GGUFs with full attention). The GGUF "
        "alone therefore computes the 'sliding_window_ignored' ablation, not logits_*; the HF folder's config.json "
        "is the only source of the window.",
    ],
    "phi3": [
        "Phi3MiniModel keeps the fused tensors: qkv_proj -> blk.N.attn_qkv.weight [q|k|v rows], gate_up_proj -> "
        "blk.N.ffn_up.weight [gate rows then up rows, 2*intermediate]; no permutation (NEOX RoPE).",
        "It always writes phi3.rope.scaling.original_context_length and phi3.attention.sliding_window (0 when "
        "config.sliding_window is null, as here).",
    ],
}


def make_family(family, train):
    fam_dir = os.path.join(OUT, family)
    hf_dir = os.path.join(fam_dir, "hf")
    shutil.rmtree(fam_dir, ignore_errors=True)
    os.makedirs(fam_dir)
    model = build(family)
    model.save_pretrained(hf_dir, safe_serialization=True)
    gc_path = os.path.join(hf_dir, "generation_config.json")
    if os.path.exists(gc_path):
        os.remove(gc_path)
    save_tokenizer(hf_dir)
    # Reference from what was written, reloaded in fp32.
    model = load_hf(hf_dir, family)
    saved = load_file(os.path.join(hf_dir, "model.safetensors"))
    assert all(v.dtype == torch.float32 for v in saved.values())

    gguf_path = os.path.join(fam_dir, "model.gguf")
    warnings = convert(hf_dir, gguf_path)

    ps = prompts()
    logits = [forward_logits(model, ids) for ids in ps]
    save_file({f"logits_{i}": l.contiguous() for i, l in enumerate(logits)},
              os.path.join(fam_dir, "expected.safetensors"), metadata={"format": "pt"})
    conts, margins = zip(*[greedy(model, ids) for ids in ps])
    top2 = [l.topk(2, dim=-1).values for l in logits]

    meta, gtensors, gshapes = read_gguf(gguf_path)
    explained, unused = explain_tensors(family, model, gtensors)
    assert all(v["hf"] or k == "rope_freqs.weight" for k, v in explained.items()), explained
    assert not [u for u in unused if not u.startswith("lm_head")] or True
    rope_freqs = gtensors["rope_freqs.weight"].tolist() if "rope_freqs.weight" in gtensors else None

    tf_gguf = transformers_reads_gguf(family, fam_dir, model, logits, ps)
    abl = ablations(family, hf_dir, logits, ps)

    spec = FAMILIES[family]
    expected = {
        "source": f"transformers {transformers.__version__}, torch {torch.__version__}, fp32, eager attention; "
                  f"GGUF by llama.cpp convert_hf_to_gguf.py (llama-cpp-python 0.3.36) --outtype f32; "
                  f"tests/reference/make_family_fixtures.py",
        "family": family,
        "hf_class": type(model).__name__,
        "config": config_values(model.config, ["model_type", "vocab_size", "hidden_size", "intermediate_size",
                                               "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                                               "head_dim", "max_position_embeddings"] + spec["exercised"]),
        "effective_head_dim": getattr(model.config, "head_dim", None) or HIDDEN // HEADS,
        "rope_inv_freq": rope_inv_freqs(model),
        "init": {"seed": SEED, "linear_std": W_STD, "qk_std": QK_STD, "embedding_std": EMB_STD,
                 "bias_std": BIAS_STD, "norm": ("w = N(0, %g), applied as 1 + w" % NORM_STD) if is_gemma(family)
                 else "1 + N(0, %g)" % NORM_STD},
        "prompts": ps,
        "logits": "expected.safetensors logits_<i>: [len(prompts[i]), vocab] F32, every position",
        "argmax": [l.argmax(-1).tolist() for l in logits],
        "top2_margin": [(t[:, 0] - t[:, 1]).tolist() for t in top2],
        "greedy_new_tokens": NEW_TOKENS,
        "greedy": list(conts),
        "greedy_top2_margin": list(margins),
        "greedy_note": "model.generate(do_sample=False, eos_token_id=None): 32 tokens after each prompt; checked "
                       "equal to the argmax of one full forward over prompt + continuation",
        "gguf": {
            "converter_warnings": warnings,
            "metadata": meta,
            "tensors": gshapes,
            "from_hf": explained,
            "hf_tensors_not_in_gguf": unused,
            "rope_freqs": rope_freqs,
        },
        "transformers_reads_gguf": tf_gguf,
        "ablations_max_abs_logit_diff": abl,
        "notes": NOTES[family],
    }
    if train:
        losses = lora_fixture(family, fam_dir)
        loss, names = full_grads_fixture(family, fam_dir)
        expected["training"] = {"lora": "lora/batches.json", "lora_losses": losses,
                                "full_step1_grads": "full_step1_grads.safetensors: d loss / d weight for every "
                                                    "parameter (HF names; a tied head's gradient is folded into "
                                                    "model.embed_tokens.weight), one forward+backward on "
                                                    "lora/batches.json batches[0], fp32, no optimizer step",
                                "full_step1_loss": loss, "full_step1_grad_names": len(names)}
    with open(os.path.join(fam_dir, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    for root, _, files in os.walk(fam_dir):
        for fn in files:
            os.chmod(os.path.join(root, fn), 0o644)
    total = sum(os.path.getsize(os.path.join(r, fn)) for r, _, fs in os.walk(fam_dir) for fn in fs)
    print(f"{family}: {total} bytes; argmax margin min {min(min(m) for m in expected['top2_margin']):.4g}; "
          f"greedy margin min {min(min(m) for m in margins):.4g}; gguf reread {json.dumps(tf_gguf)}; "
          f"ablations {json.dumps(abl)}", file=sys.stderr)


def main():
    torch.set_num_threads(max(1, int(os.environ.get("REF_THREADS", "2"))))
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    train = "--no-train" not in sys.argv
    for family in args or list(FAMILIES):
        if family not in FAMILIES:
            raise SystemExit(f"unknown family {family}; have {', '.join(FAMILIES)}")
        make_family(family, train)


if __name__ == "__main__":
    main()
