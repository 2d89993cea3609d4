#!/usr/bin/env python3
"""Converts llama2.c's stories260K (tests/data/stories260K) into Hugging Face Llama folders with
transformers, as llama2.c's own export.py does (Q/K rows permuted to HF's rotate-half order), and
records transformers' logits on them, so frugal's HF-folder loader is checked against transformers.

Upstream versions used for the committed fixtures: transformers 5.23.0, torch 2.15.0, safetensors
(as installed with transformers), sentencepiece for the tokenizer conversion.

Writes tests/fixtures/stories260k_hf/:
  f32_sharded/  config.json, model-0000x-of-0000y.safetensors + model.safetensors.index.json (fp32),
                tokenizer.json + tokenizer_config.json (copied from tests/fixtures/hf_tok_spm)
  bf16/         config.json, model.safetensors (bf16), same tokenizer files
  reference.json  transformers logits of both folders for a fixed token sequence
"""
import json
import os
import shutil
import struct

import numpy as np
import torch
from transformers import LlamaConfig, LlamaForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SRC = os.path.join(ROOT, "tests", "data", "stories260K")
OUT = os.path.join(ROOT, "tests", "fixtures", "stories260k_hf")
TOKENS = [1, 403, 407, 261, 378, 432, 383, 286, 261]


def read_llama2c(path):
    with open(path, "rb") as f:
        dim, hidden, layers, heads, kv_heads, vocab, seq_len = struct.unpack("7i", f.read(28))
        data = np.frombuffer(f.read(), dtype=np.float32)
    kv_dim = dim * kv_heads // heads
    at = 0

    def take(*shape):
        nonlocal at
        n = int(np.prod(shape))
        out = data[at:at + n].reshape(shape)
        at += n
        return torch.tensor(out.copy())

    w = {"emb": take(vocab, dim), "rms_att": take(layers, dim), "wq": take(layers, dim, dim),
         "wk": take(layers, kv_dim, dim), "wv": take(layers, kv_dim, dim), "wo": take(layers, dim, dim),
         "rms_ffn": take(layers, dim), "w1": take(layers, hidden, dim), "w2": take(layers, dim, hidden),
         "w3": take(layers, hidden, dim), "rms_final": take(dim)}
    cfg = dict(dim=dim, hidden=hidden, layers=layers, heads=heads, kv_heads=kv_heads, vocab=vocab, seq_len=seq_len)
    return cfg, w


def permute(w, n_heads):  # llama2.c export.py permute_reverse: Meta pairs -> HF rotate-half
    d1, d2 = w.shape
    return w.view(n_heads, d1 // n_heads // 2, 2, d2).transpose(1, 2).reshape(d1, d2)


def main():
    c, w = read_llama2c(os.path.join(SRC, "stories260K.bin"))
    config = LlamaConfig(hidden_size=c["dim"], intermediate_size=c["hidden"], num_hidden_layers=c["layers"],
                         num_attention_heads=c["heads"], num_key_value_heads=c["kv_heads"], vocab_size=c["vocab"],
                         max_position_embeddings=c["seq_len"], rms_norm_eps=1e-5, rope_theta=10000.0,
                         tie_word_embeddings=True, bos_token_id=1, eos_token_id=2)
    model = LlamaForCausalLM(config)
    sd = {"model.embed_tokens.weight": w["emb"], "model.norm.weight": w["rms_final"], "lm_head.weight": w["emb"]}
    for i in range(c["layers"]):
        p = f"model.layers.{i}."
        sd[p + "input_layernorm.weight"] = w["rms_att"][i]
        sd[p + "post_attention_layernorm.weight"] = w["rms_ffn"][i]
        sd[p + "self_attn.q_proj.weight"] = permute(w["wq"][i], c["heads"])
        sd[p + "self_attn.k_proj.weight"] = permute(w["wk"][i], c["kv_heads"])
        sd[p + "self_attn.v_proj.weight"] = w["wv"][i]
        sd[p + "self_attn.o_proj.weight"] = w["wo"][i]
        sd[p + "mlp.gate_proj.weight"] = w["w1"][i]
        sd[p + "mlp.down_proj.weight"] = w["w2"][i]
        sd[p + "mlp.up_proj.weight"] = w["w3"][i]
    model.load_state_dict(sd, strict=True)
    model.eval()

    # The tokenizer files come from make_hf_tokenizer_fixture.py (tok512.model converted by the HF libraries).
    tok_dir = os.path.join(ROOT, "tests", "fixtures", "hf_tok_spm")
    shutil.rmtree(OUT, ignore_errors=True)
    reference = {"tokens": TOKENS}
    for name, dtype, shard in [("f32_sharded", torch.float32, "400KB"), ("bf16", torch.bfloat16, "50MB")]:
        folder = os.path.join(OUT, name)
        m = model.to(dtype)
        m.save_pretrained(folder, safe_serialization=True, max_shard_size=shard)
        for fn in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(os.path.join(tok_dir, fn), folder)
        for extra in ("generation_config.json",):
            if os.path.exists(os.path.join(folder, extra)):
                os.remove(os.path.join(folder, extra))
        # Reload what was written, in fp32: converting the in-memory model back with .float() would
        # keep its RoPE inv_freq buffer rounded to bf16, which is not what a loader of the folder sees.
        reloaded = LlamaForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
        with torch.no_grad():
            logits = reloaded(torch.tensor([TOKENS])).logits[0]
        reference[name] = [[round(float(v), 6) for v in row] for row in logits]
        model = model.float()
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(reference, f, separators=(",", ":"))
    for root, _, files in os.walk(OUT):
        for fn in files:
            print(os.path.join(root, fn), os.path.getsize(os.path.join(root, fn)))


if __name__ == "__main__":
    main()
