#!/usr/bin/env python3
"""Hugging Face tokenizer folders and the ids the Hugging Face `tokenizers` library gives for them,
for tests/unit/test_tokenizer_hf.cpp.

Upstream versions used for the committed fixtures: tokenizers 0.23.3, transformers 5.23.0,
sentencepiece 0.2.3, protobuf 7.36.2 (transformers needs protobuf to read tok512.model).

Writes four tokenizer folders (tokenizer.json + tokenizer_config.json), all small:
  tests/fixtures/hf_tok_bytelevel/     byte-level BPE trained here (ByteLevel pre-tokenizer, i.e. the
                                       GPT-2 regex; 400 merges) on the first 8 KiB of Tiny Shakespeare
                                       and the test strings, with <|endoftext|>, <|im_start|>,
                                       <|im_end|> special and <extra> a non-special added token
  tests/fixtures/hf_tok_llama3/        the same, trained behind Llama 3's pre-tokenizer (Split on its
                                       regex + ByteLevel without regex) with ignore_merges
  tests/fixtures/hf_tok_spm/           Llama-2-style SentencePiece BPE (byte_fallback, Metaspace with
                                       prepend_scheme "first") converted by transformers from
                                       tests/data/stories260K/tok512.model
  tests/fixtures/hf_tok_spm_legacy/    the same with the older Llama-2 form: a Prepend("▁") +
                                       Replace(" ", "▁") normalizer, no pre-tokenizer, and BOS added by
                                       the post-processor
and tests/fixtures/hf_tok_cases.json: the test strings (llama.cpp's 46 tokenizer test cases, which
are also in tests/data/vocab/*.inp, plus a few with special tokens) and, per folder, the ids of
Tokenizer.encode(s, add_special_tokens=False) and =True, and Tokenizer.decode(ids) with
skip_special_tokens True and False. The Hugging Face tokenizer always recognises special tokens
in text, which is frugal's parse_special = true.

Usage: /opt/frugal-ref/bin/python tests/reference/make_hf_tokenizer_fixture.py
"""
import json
import os
import shutil
import tempfile

import tokenizers
import transformers
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaTokenizer, PreTrainedTokenizerFast

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEST_DATA = os.path.join(ROOT, "tests", "data")
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
SEP = "\n__ggml_vocab_test__\n"

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
LLAMA3_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
    r"|\s+(?!\S)|\s+"
)
EXTRA_CASES = [
    "<|im_start|>user\nHello there<|im_end|>\n<|im_start|>assistant\n",
    "x<extra>y <extra> z",
    "Hello<|endoftext|>world",
    "<s>Once upon a time</s> and then",
    "a<s>b",
    "  two leading spaces",
    "The year 2024 had 366 days; they'll've said 'DON'T'.",
]


def test_cases():
    with open(os.path.join(TEST_DATA, "vocab", "ggml-vocab-gpt-2.gguf.inp"), encoding="utf-8") as f:
        text = f.read()
    cases = text.split(SEP)
    assert cases[-1] == "" and len(cases) == 47
    return cases[:-1] + EXTRA_CASES


def save(folder, tokenizer_fast):
    path = os.path.join(FIXTURES, folder)
    shutil.rmtree(path, ignore_errors=True)
    tokenizer_fast.save_pretrained(path)
    # Only the two files frugal reads; transformers may add others (special_tokens_map.json, ...).
    for name in os.listdir(path):
        if name not in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
            os.remove(os.path.join(path, name))
    return path


def train_bytelevel(pre_tokenizer, ignore_merges, corpus):
    tk = Tokenizer(models.BPE(ignore_merges=ignore_merges))
    tk.pre_tokenizer = pre_tokenizer
    tk.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(vocab_size=256 + len(specials) + 400, min_frequency=2, show_progress=False,
                                  special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tk.train_from_iterator(corpus, trainer=trainer)
    tk.add_tokens([tokenizers.AddedToken("<extra>", special=False, normalized=False)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<|endoftext|>", eos_token="<|im_end|>",
                                   clean_up_tokenization_spaces=False)
    fast.chat_template = CHATML
    return fast


def make_bytelevel(cases):
    # Shakespeare plus the test strings twice, so that merges exist inside the pieces each regex cuts
    # (runs of newlines, digit groups, contractions, emoji bytes) and a wrong cut changes the ids.
    with open(os.path.join(TEST_DATA, "datasets", "tinyshakespeare", "input.txt"), encoding="utf-8") as f:
        corpus = [f.read(8192)] + cases * 2
    gpt2 = train_bytelevel(pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True), False, corpus)
    llama3_pre = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    llama3 = train_bytelevel(llama3_pre, True, corpus)
    return save("hf_tok_bytelevel", gpt2), save("hf_tok_llama3", llama3)


def make_spm():
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(os.path.join(TEST_DATA, "stories260K", "tok512.model"), os.path.join(tmp, "tokenizer.model"))
        fast = LlamaTokenizer.from_pretrained(tmp)
    spm = save("hf_tok_spm", fast)

    data = json.loads(fast.backend_tokenizer.to_str())
    data["normalizer"] = {
        "type": "Sequence",
        "normalizers": [
            {"type": "Prepend", "prepend": "\u2581"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"},
        ],
    }
    data["pre_tokenizer"] = None
    # As in meta-llama/Llama-2-7b-hf: BOS added by the post-processor.
    data["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [
            {"SpecialToken": {"id": "<s>", "type_id": 0}},
            {"Sequence": {"id": "A", "type_id": 0}},
            {"SpecialToken": {"id": "<s>", "type_id": 1}},
            {"Sequence": {"id": "B", "type_id": 1}},
        ],
        "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}},
    }
    legacy = Tokenizer.from_str(json.dumps(data))
    fast_legacy = PreTrainedTokenizerFast(tokenizer_object=legacy, bos_token="<s>", eos_token="</s>",
                                          unk_token="<unk>", clean_up_tokenization_spaces=False)
    return spm, save("hf_tok_spm_legacy", fast_legacy)


def expectations(folder, cases):
    tk = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    out = {"ids": [], "ids_add_special": [], "decoded": [], "decoded_special": []}
    for s in cases:
        ids = tk.encode(s, add_special_tokens=False).ids
        out["ids"].append(ids)
        out["ids_add_special"].append(tk.encode(s, add_special_tokens=True).ids)
        out["decoded"].append(tk.decode(ids, skip_special_tokens=True))
        out["decoded_special"].append(tk.decode(ids, skip_special_tokens=False))
    return out


def main():
    cases = test_cases()
    folders = {}
    folders["hf_tok_bytelevel"], folders["hf_tok_llama3"] = make_bytelevel(cases)
    folders["hf_tok_spm"], folders["hf_tok_spm_legacy"] = make_spm()
    result = {
        "generator": "tests/reference/make_hf_tokenizer_fixture.py",
        "versions": {"tokenizers": tokenizers.__version__, "transformers": transformers.__version__},
        "cases": cases,
        "expected": {name: expectations(path, cases) for name, path in folders.items()},
    }
    with open(os.path.join(FIXTURES, "hf_tok_cases.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    for name, path in folders.items():
        size = sum(os.path.getsize(os.path.join(path, n)) for n in os.listdir(path))
        print(f"{name}: {sorted(os.listdir(path))}, {size} bytes")
    print("hf_tok_cases.json:", os.path.getsize(os.path.join(FIXTURES, "hf_tok_cases.json")), "bytes")


if __name__ == "__main__":
    main()
