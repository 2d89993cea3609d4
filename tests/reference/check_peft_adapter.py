#!/usr/bin/env python3
"""Outside check of a PEFT adapter folder written by frugal, with the upstream libraries:

  * peft.LoraConfig.from_pretrained reads adapter_config.json (peft_type LORA, no DoRA, r, alpha);
  * every key of adapter_model.safetensors is base_model.model.model.layers.N.<module>.lora_A/B.weight
    with A [r, in] and B [out, r] for a module in target_modules, in/out from a transformers
    LlamaConfig built from --base (an HF folder's config.json);
  * peft.PeftModel.from_pretrained loads the folder onto a LlamaForCausalLM built from that config
    (the folder's weights when it has them, else random: no download) with every LoRA parameter
    taken from the file;
  * with --merged DIR (frugal's merged HF export of the same adapter on the --base weights):
    PEFT's merge_and_unload() equals that folder's weights.

Prints one line and exits 0 when everything holds, 1 otherwise.
Usage: /opt/frugal-ref/bin/python tests/reference/check_peft_adapter.py ADAPTER_DIR --base HF_DIR [--merged DIR]
"""
import argparse
import os
import re
import sys
import warnings


class CheckError(Exception):
    pass


MODULES = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj",
           "mlp.up_proj", "mlp.down_proj"}


def in_out(config, module):
    hidden, inter = config.hidden_size, config.intermediate_size
    heads = config.num_attention_heads
    kv = config.num_key_value_heads or heads
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    return {"self_attn.q_proj": (hidden, heads * head_dim), "self_attn.k_proj": (hidden, kv * head_dim),
            "self_attn.v_proj": (hidden, kv * head_dim), "self_attn.o_proj": (heads * head_dim, hidden),
            "mlp.gate_proj": (hidden, inter), "mlp.up_proj": (hidden, inter), "mlp.down_proj": (inter, hidden)}[module]


def check(adapter_dir, base, merged_dir):
    import torch
    from peft import LoraConfig, PeftModel
    from safetensors import safe_open
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LoraConfig.from_pretrained(adapter_dir)
    if str(cfg.peft_type.value if hasattr(cfg.peft_type, "value") else cfg.peft_type) != "LORA":
        raise CheckError(f"peft_type {cfg.peft_type}")
    if cfg.use_dora or cfg.rank_pattern or cfg.alpha_pattern or cfg.modules_to_save:
        raise CheckError("unexpected DoRA / rank_pattern / alpha_pattern / modules_to_save")
    targets = set(cfg.target_modules) if not isinstance(cfg.target_modules, str) else None
    config = LlamaConfig.from_pretrained(base)
    r = cfg.r

    file_tensors = {}
    with safe_open(os.path.join(adapter_dir, "adapter_model.safetensors"), framework="pt") as st:
        for key in st.keys():
            m = re.fullmatch(r"base_model\.model\.model\.layers\.(\d+)\.(\w+\.\w+)\.lora_([AB])\.weight", key)
            if not m or m.group(2) not in MODULES:
                raise CheckError(f"key {key} is not a PEFT LoRA weight of a Llama module")
            layer, module, which = int(m.group(1)), m.group(2), m.group(3)
            if layer >= config.num_hidden_layers:
                raise CheckError(f"key {key}: layer {layer} but the model has {config.num_hidden_layers}")
            full = f"model.layers.{layer}.{module}"
            # PEFT's rule: a list entry names the module or a dotted suffix of it; a string is a regex.
            selected = (any(full == t or full.endswith("." + t) for t in targets) if targets is not None
                        else re.fullmatch(cfg.target_modules, full) is not None)
            if not selected:
                raise CheckError(f"key {key}: {full} is not selected by target_modules {cfg.target_modules!r}")
            fan_in, fan_out = in_out(config, module)
            want = [r, fan_in] if which == "A" else [fan_out, r]
            t = st.get_tensor(key)
            if list(t.shape) != want:
                raise CheckError(f"key {key}: shape {list(t.shape)}, expected {want}")
            file_tensors[key] = t.float()

    has_weights = any(f.endswith(".safetensors") for f in os.listdir(base))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if has_weights:
            model = LlamaForCausalLM.from_pretrained(base, dtype=torch.float32)
        else:
            model = LlamaForCausalLM(config)
        peft_model = PeftModel.from_pretrained(model, adapter_dir)
    loaded = 0
    for name, p in peft_model.named_parameters():
        if ".lora_A." not in name and ".lora_B." not in name:
            continue
        key = name.replace(".default.", ".")
        if key not in file_tensors:
            raise CheckError(f"PEFT created {name} but the file has no {key} (it would stay at its init)")
        if not torch.equal(p.detach().float(), file_tensors[key]):
            raise CheckError(f"{name} differs from the file after PeftModel.from_pretrained")
        loaded += 1
    if loaded != len(file_tensors):
        raise CheckError(f"the file has {len(file_tensors)} tensors, PEFT loaded {loaded}")

    note = ""
    if merged_dir:
        if not has_weights:
            raise CheckError("--merged needs --base to hold the base weights")
        merged = peft_model.merge_and_unload().state_dict()
        worst, worst_name = 0.0, ""
        with safe_open(os.path.join(merged_dir, "model.safetensors"), framework="pt") as st:
            names = list(st.keys())
            for key in names:
                diff = (st.get_tensor(key).float() - merged[key].float()).abs().max().item()
                if diff > worst:
                    worst, worst_name = diff, key
        if worst > 1e-5:
            raise CheckError(f"merged weights differ from PEFT's merge_and_unload by {worst:g} at {worst_name}")
        note = f"; merge_and_unload equals {merged_dir} (max diff {worst:.2g} over {len(names)} tensors)"

    return (f"OK: {adapter_dir}: LoRA r={r} alpha={cfg.lora_alpha} rslora={cfg.use_rslora}, "
            f"{len(file_tensors)} tensors loaded by PeftModel{note}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("adapter")
    ap.add_argument("--base", required=True)
    ap.add_argument("--merged")
    args = ap.parse_args()
    try:
        print(check(args.adapter, args.base, args.merged))
        return 0
    except Exception as e:  # one line for CI, whatever failed
        print(f"FAIL: {args.adapter}: {type(e).__name__}: {e}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
