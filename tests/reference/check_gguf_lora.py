#!/usr/bin/env python3
"""Outside check of a GGUF LoRA adapter written by frugal, read with the upstream `gguf` package
(gguf.GGUFReader), against what llama.cpp's adapter loader (src/llama-adapter.cpp) requires:

  * general.type == "adapter", adapter.type == "lora", general.architecture == the base's,
    adapter.lora.alpha a FLOAT32;
  * every tensor is `<llama base tensor name>.lora_a` / `.lora_b` (names from gguf's own llama tensor
    table), in pairs;
  * orientation: lora_a ne = [in, r], lora_b ne = [r, out] with the base weight's in/out, and the
    same rank in both.

Options:
  --base PATH   the base model: an HF folder (config.json gives in/out) or a GGUF model (its tensors
                must exist and fit exactly as llama.cpp checks: base.ne[0] == a.ne[0],
                base.ne[1] == b.ne[1]). Without it only the rank consistency is checked.
  --peft DIR    a PEFT folder of the same adapter: the GGUF tensors must equal PEFT's A as is and
                PEFT's B with Q/K rows permuted as llama.cpp's converter does (LlamaModel.permute,
                reimplemented here in numpy), and alpha must be lora_alpha, times sqrt(r) for rsLoRA.

Prints one line and exits 0 when everything holds, 1 otherwise.
Usage: /opt/frugal-ref/bin/python tests/reference/check_gguf_lora.py LORA.gguf [--base P] [--peft D]
"""
import argparse
import json
import math
import os
import re
import sys

import numpy as np
import gguf
from gguf import GGUFReader


class CheckError(Exception):
    pass


def field(reader, key):
    f = reader.fields.get(key)
    if f is None:
        raise CheckError(f"missing key {key}")
    return f


def llama_base_names(n_layers):
    """Every `.weight` tensor name gguf's table lists for the llama architecture."""
    names = set()
    for t in gguf.MODEL_TENSORS[gguf.MODEL_ARCH.LLAMA]:
        fmt = gguf.TENSOR_NAMES[t]
        if "{bid}" in fmt:
            names.update(fmt.format(bid=b) + ".weight" for b in range(n_layers))
        else:
            names.add(fmt + ".weight")
    return names


def hf_in_out(config):
    """(in, out) of each llama linear weight, by GGUF name stem, from an HF config.json."""
    c = config
    hidden, inter = c["hidden_size"], c["intermediate_size"]
    heads = c["num_attention_heads"]
    kv = c.get("num_key_value_heads") or heads
    head_dim = c.get("head_dim") or hidden // heads
    return {"attn_q": (hidden, heads * head_dim), "attn_k": (hidden, kv * head_dim), "attn_v": (hidden, kv * head_dim),
            "attn_output": (heads * head_dim, hidden), "ffn_gate": (hidden, inter), "ffn_up": (hidden, inter),
            "ffn_down": (inter, hidden)}


def permute(w, n_head):
    """llama.cpp convert_hf_to_gguf LlamaModel.permute: HF rotate-half rows -> GGUF (Meta) rows."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


PEFT_TO_GGUF = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
                "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
                "mlp.down_proj": "ffn_down"}


def check(path, base, peft_dir):
    r = GGUFReader(path)
    if field(r, "general.type").contents() != "adapter":
        raise CheckError(f"general.type is {field(r, 'general.type').contents()!r}, not 'adapter'")
    if field(r, "adapter.type").contents() != "lora":
        raise CheckError(f"adapter.type is {field(r, 'adapter.type').contents()!r}, not 'lora'")
    arch = field(r, "general.architecture").contents()
    alpha_field = field(r, "adapter.lora.alpha")
    if alpha_field.types != [gguf.GGUFValueType.FLOAT32]:
        raise CheckError(f"adapter.lora.alpha has type {alpha_field.types}, not FLOAT32")
    alpha = float(alpha_field.contents())

    tensors = {t.name: t for t in r.tensors}
    blocks = [int(m.group(1)) for n in tensors if (m := re.match(r"blk\.(\d+)\.", n))]
    n_layers = max(blocks) + 1 if blocks else 0

    base_shapes = None  # GGUF base name -> ne
    in_out = None
    if base:
        if os.path.isdir(base):
            with open(os.path.join(base, "config.json")) as f:
                config = json.load(f)
            if config.get("model_type", "llama") not in ("llama", "mistral") or arch != "llama":
                raise CheckError(f"architecture {arch!r} does not match the base's model_type {config.get('model_type')!r}")
            n_layers = config["num_hidden_layers"]
            in_out = hf_in_out(config)
        else:
            br = GGUFReader(base)
            base_arch = br.fields["general.architecture"].contents()
            if base_arch != arch:
                raise CheckError(f"model arch {base_arch!r} and LoRA arch {arch!r} mismatch")
            base_shapes = {t.name: [int(x) for x in t.shape] for t in br.tensors}
    if arch != "llama":
        raise CheckError(f"general.architecture {arch!r}: this check knows llama only")
    valid = llama_base_names(n_layers)

    pairs = {}
    for name, t in tensors.items():
        m = re.fullmatch(r"(.+)\.lora_([ab])", name)
        if not m:
            raise CheckError(f"tensor {name}: unexpected suffix (llama.cpp accepts .lora_a / .lora_b)")
        stem = m.group(1)
        if stem not in valid:
            raise CheckError(f"tensor {name}: {stem} is not a llama base tensor name")
        if t.tensor_type != gguf.GGMLQuantizationType.F32:
            raise CheckError(f"tensor {name}: type {t.tensor_type.name}, expected F32")
        pairs.setdefault(stem, {})[m.group(2)] = t
    if not pairs:
        raise CheckError("no LoRA tensors")
    ranks = set()
    for stem, p in pairs.items():
        if set(p) != {"a", "b"}:
            raise CheckError(f"{stem}: lora_a and lora_b must come in pairs")
        a_ne, b_ne = [int(x) for x in p["a"].shape], [int(x) for x in p["b"].shape]
        if len(a_ne) != 2 or len(b_ne) != 2 or a_ne[1] != b_ne[0]:
            raise CheckError(f"{stem}: lora_a ne {a_ne} and lora_b ne {b_ne} disagree on the rank")
        ranks.add(b_ne[0])
        if base_shapes is not None:
            if stem not in base_shapes:
                raise CheckError(f"{stem}: no such tensor in the base model")
            w = base_shapes[stem]
            if w[0] != a_ne[0] or w[1] != b_ne[1]:
                raise CheckError(f"{stem}: base ne {w}, lora_a ne {a_ne}, lora_b ne {b_ne}: lora_a is not transposed")
        if in_out is not None:
            kind = stem.split(".")[2]
            fan_in, fan_out = in_out[kind]
            if a_ne != [fan_in, a_ne[1]] or b_ne != [b_ne[0], fan_out]:
                raise CheckError(f"{stem}: lora_a ne {a_ne} / lora_b ne {b_ne}, expected [{fan_in}, r] / [r, {fan_out}]")

    if peft_dir:
        from safetensors import safe_open
        with open(os.path.join(peft_dir, "adapter_config.json")) as f:
            pcfg = json.load(f)
        rank = pcfg["r"]
        want_alpha = pcfg["lora_alpha"] * (math.sqrt(rank) if pcfg.get("use_rslora") else 1.0)
        if abs(alpha - want_alpha) > 1e-5 * max(1.0, abs(want_alpha)):
            raise CheckError(f"adapter.lora.alpha {alpha} but PEFT's config needs {want_alpha}")
        if not in_out:
            raise CheckError("--peft needs --base HF_DIR for the head counts")
        with open(os.path.join(base, "config.json")) as f:
            config = json.load(f)
        heads = config["num_attention_heads"]
        kv = config.get("num_key_value_heads") or heads
        seen = 0
        with safe_open(os.path.join(peft_dir, "adapter_model.safetensors"), framework="numpy") as st:
            for key in st.keys():
                m = re.fullmatch(r"base_model\.model\.model\.layers\.(\d+)\.(\w+\.\w+)\.lora_([AB])\.weight", key)
                if not m:
                    raise CheckError(f"PEFT key {key} is not a lora_A / lora_B weight")
                stem = f"blk.{m.group(1)}.{PEFT_TO_GGUF[m.group(2)]}.weight"
                value = st.get_tensor(key).astype(np.float32)
                if m.group(3) == "B" and m.group(2) == "self_attn.q_proj":
                    value = permute(value, heads)
                elif m.group(3) == "B" and m.group(2) == "self_attn.k_proj":
                    value = permute(value, kv)
                t = pairs.get(stem, {}).get(m.group(3).lower())
                if t is None:
                    raise CheckError(f"{stem}.lora_{m.group(3).lower()} missing for PEFT key {key}")
                got = np.asarray(t.data, dtype=np.float32).reshape(value.shape)
                if not np.array_equal(got, value):
                    raise CheckError(f"{t.name} differs from PEFT's {key} (permuted as llama.cpp's converter for B of Q/K)")
                seen += 1
        if seen != len(tensors):
            raise CheckError(f"{len(tensors)} GGUF tensors but {seen} PEFT tensors")

    extra = f", equal to the PEFT folder" if peft_dir else ""
    return (f"OK: {path}: {len(pairs)} adapted weights, rank {sorted(ranks)}, alpha {alpha:g}, "
            f"shapes as llama.cpp requires{extra}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lora")
    ap.add_argument("--base")
    ap.add_argument("--peft")
    args = ap.parse_args()
    try:
        print(check(args.lora, args.base, args.peft))
        return 0
    except (CheckError, KeyError, ValueError, OSError) as e:
        print(f"FAIL: {args.lora}: {e}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
