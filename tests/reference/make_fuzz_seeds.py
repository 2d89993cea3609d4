#!/usr/bin/env python3
"""Seed corpora for the libFuzzer targets in tests/fuzz (a few KB per target).

Files in the binary formats come from the upstream writers: the GGUF seeds from llama.cpp's `gguf`
package (GGUFWriter, gguf 0.19.0; Q8_0 blocks from gguf.quants), the safetensors of the checkpoint
seed from the `safetensors` package (0.8.0, numpy 2.4.6). The others are committed fixtures made by
upstream tools (tests/fixtures: transformers / tokenizers / PEFT outputs) or slices of the real
datasets in tests/data, copied or cut as they are. Multi-file seeds join their files with the line
"--frugal-fuzz-part--" (tests/fuzz/fuzz_util.h). Seeds only guide the fuzzer: nothing is compared
with them.

Run: /opt/frugal-ref/bin/python tests/reference/make_fuzz_seeds.py
"""
import json
import shutil
from pathlib import Path

import gguf
import numpy as np
from safetensors.numpy import save

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "fixtures"
DATA = ROOT / "tests" / "data"
OUT = ROOT / "tests" / "fuzz" / "corpus"
PART = b"\n--frugal-fuzz-part--\n"
rng = np.random.default_rng(17)


def target(name):
    d = OUT / name
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    return d


def tiny_llama_gguf(path, dim, ffn, vocab_kind, matrix_type):
    """A one-layer Llama (2 heads, 1 KV head) with a small vocabulary: what load_gguf_model reads."""
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(1)
    w.add_context_length(64)
    w.add_embedding_length(dim)
    w.add_feed_forward_length(ffn)
    w.add_head_count(2)
    w.add_head_count_kv(1)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    if vocab_kind == "llama":
        tokens = ["<unk>", "<s>", "</s>", "<0x0A>", "\u2581", "\u2581H", "ello", "\u2581world"]
        w.add_tokenizer_model("llama")
        w.add_token_list(tokens)
        w.add_token_scores([0.0, 0.0, 0.0, 0.0, -1.0, -2.0, -3.0, -4.0])
        w.add_token_types([2, 3, 3, 6, 1, 1, 1, 1])
        w.add_unk_token_id(0)
    else:
        tokens = ["<|endoftext|>", "<|im_start|>", "H", "e", "l", "o", "\u0120", "w", "He", "ll"]
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("smollm")
        w.add_token_list(tokens)
        w.add_token_types([3, 3, 1, 1, 1, 1, 1, 1, 1, 1])
        w.add_token_merges(["H e", "l l"])
        w.add_add_bos_token(False)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    vocab = len(tokens)
    kv = dim // 2

    def put(name, rows, cols, qtype=None):
        a = rng.standard_normal((rows, cols)).astype(np.float32) * 0.1 if rows > 1 else np.ones(cols, np.float32)
        if qtype is None or rows == 1:
            w.add_tensor(name, a)
        elif qtype == gguf.GGMLQuantizationType.F16:
            w.add_tensor(name, a.astype(np.float16))
        else:
            w.add_tensor(name, gguf.quants.quantize(a, qtype), raw_dtype=qtype)

    put("token_embd.weight", vocab, dim)
    put("output_norm.weight", 1, dim)
    put("blk.0.attn_norm.weight", 1, dim)
    put("blk.0.ffn_norm.weight", 1, dim)
    put("blk.0.attn_q.weight", dim, dim, matrix_type)
    put("blk.0.attn_k.weight", kv, dim, matrix_type)
    put("blk.0.attn_v.weight", kv, dim, matrix_type)
    put("blk.0.attn_output.weight", dim, dim, matrix_type)
    put("blk.0.ffn_gate.weight", ffn, dim, matrix_type)
    put("blk.0.ffn_up.weight", ffn, dim, matrix_type)
    put("blk.0.ffn_down.weight", dim, ffn, matrix_type)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    d = target("gguf")
    tiny_llama_gguf(d / "llama_spm_f32.gguf", 8, 16, "llama", None)
    tiny_llama_gguf(d / "llama_bpe_f16.gguf", 8, 16, "gpt2", gguf.GGMLQuantizationType.F16)
    tiny_llama_gguf(d / "llama_spm_q8_0.gguf", 32, 32, "llama", gguf.GGMLQuantizationType.Q8_0)

    d = target("safetensors")
    for name in ("basic", "dtypes"):
        shutil.copy(FIX / "safetensors" / f"{name}.safetensors", d)

    d = target("hf_config")
    for family in ("llama3", "gemma3", "mistral", "phi3", "qwen2", "qwen3"):
        shutil.copy(FIX / "families" / family / "hf" / "config.json", d / f"{family}.json")
    shutil.copy(FIX / "bnb_4bit" / "stories260k_nf4_dq" / "config.json", d / "bnb_nf4_dq.json")
    shutil.copy(FIX / "bnb_int8" / "stories260k_int8" / "config.json", d / "bnb_int8.json")

    d = target("tokenizer_json")
    for name in ("hf_tok_spm", "hf_tok_bytelevel"):
        src = FIX / name
        (d / name).write_bytes((src / "tokenizer.json").read_bytes() + PART + (src / "tokenizer_config.json").read_bytes())

    d = target("tokenize")
    cases = json.loads((FIX / "hf_tok_cases.json").read_text())["cases"]
    for i, text in enumerate(c for c in cases if len(c.encode()) > 8):
        if i >= 12:
            break
        (d / f"case{i:02d}.txt").write_text(text)
    (d / "special.txt").write_text("<|im_start|>user\nHi!<|im_end|>\n<s> </s> <unk>")
    (d / "not_utf8.bin").write_bytes(b"caf\xe9 \xff\xfe \xc3")

    d = target("train_config")
    readme_yaml = (
        b"base_model: .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf\n"
        b"dataset: data/train.jsonl\nval_dataset: data/eval.jsonl\noutput_dir: runs/mine\n"
        b"lora_r: 16\nlora_alpha: 32\nlora_target_modules: all-linear\nlearning_rate: 1e-3\n"
        b"micro_batch_size: 8\ngradient_accumulation_steps: 1\nmax_steps: 60\n"
        b"gradient_checkpointing: false\nbf16: true\n")
    (d / "readme").write_bytes(readme_yaml)
    (d / "overrides").write_bytes(readme_yaml + PART + b"--load_in_4bit true\n--bnb_4bit_quant_type fp4\n"
                                  b"--lr_scheduler linear\n--warmup_steps 3\n--zero_stage 2\n--val_set_size 0.1\n")
    (d / "full").write_bytes(b"base_model: m.gguf\ndataset: d.json\nmethod: full\nsample_packing: true\n"
                             b"sequence_len: 256\nnum_epochs: 2\nsave_steps: 10\nsave_total_limit: 2\n"
                             b"resume_from_checkpoint: latest\ndataset_format: chat\n")

    d = target("dataset")  # first byte: 0 auto, 1 text, 2 instruction, 3 chat
    roleplay = json.loads((DATA / "datasets" / "gpteacher-roleplay" / "roleplay-simple-deduped-roleplay-instruct.json").read_text())
    short = [r for r in roleplay if len(json.dumps(r)) < 700][:2]
    (d / "instruction_array").write_bytes(b"2" + json.dumps(short).encode())
    lines = (DATA / "datasets" / "tinyshakespeare" / "input.txt").read_text().split("\n\n")[:4]
    (d / "text_jsonl").write_bytes(b"1" + "\n".join(json.dumps({"text": t}) for t in lines).encode() + b"\n")
    chat = [{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                          {"role": "assistant", "content": "Hello!"}]},
            {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}]
    (d / "chat_jsonl").write_bytes(b"3" + "\n\n".join(json.dumps(c) for c in chat).encode())
    (d / "auto_jsonl").write_bytes(b"0" + json.dumps({"instruction": "Say hi", "input": None, "output": "hi"}).encode())
    # ShareGPT records, and chat JSONL as gzip 1.12 and zstd 1.5.4 compressed it
    # (tests/reference/make_compressed_dataset_fixtures.sh).
    for name in ("sharegpt.jsonl", "messages.jsonl.gz", "messages.jsonl.zst"):
        (d / name.replace(".", "_")).write_bytes(b"0" + (FIX / "datasets" / name).read_bytes())

    d = target("peft_adapter")
    src = FIX / "families" / "llama3" / "lora" / "init_adapter"
    (d / "llama3_init").write_bytes((src / "adapter_config.json").read_bytes() + PART + (src / "adapter_model.safetensors").read_bytes())

    d = target("checkpoint")  # trainer_state.json without checksums: the harness fills them in
    state = {"format": "frugal-checkpoint", "version": 1, "step": 3, "epoch": 0, "data_position": 6, "tokens": 96,
             "elapsed_seconds": 1.5, "world_size": 1, "rng_state": [1, 2, 3, 4], "layout": "lora r=2 values=4",
             "trainable_count": 4, "train_loss": [[1, 2.5], [2, 2.25], [3, None]], "eval_loss": []}
    arrays = {n: rng.standard_normal(4).astype(np.float32) for n in ("values", "exp_avg", "exp_avg_sq")}
    (d / "lora_step3").write_bytes(json.dumps(state).encode() + PART + b"learning_rate: 0.0002\nlora_r: 2\n" + PART +
                                   save(arrays, metadata={"format": "frugal-checkpoint", "step": "3"}))


if __name__ == "__main__":
    main()
