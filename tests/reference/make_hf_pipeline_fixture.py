#!/usr/bin/env python3
"""Small tokenizer.json files, one per combination of normalizers, pre-tokenizers and decoders, and
the ids and texts the Hugging Face `tokenizers` library gives with them, for
tests/unit/test_tokenizer_hf_pipeline.cpp (which writes each tokenizer.json to a temporary folder
and reads it with frugal's generic tokenizer.json reader).

Upstream version used for the committed fixture: tokenizers 0.22.2.

Each tokenizer is a BPE trained here by the `tokenizers` library behind its own pipeline (so that
merges exist inside the pieces that pipeline cuts, and a wrong cut changes the ids) on the first
6 KiB of Tiny Shakespeare and the test strings. Pipelines over raw text get byte fallback by adding
the 256 <0xNN> tokens to the trained vocabulary, as SentencePiece-converted vocabularies have them.

Usage: /opt/frugal-ref/bin/python tests/reference/make_hf_pipeline_fixture.py
"""
import json
import os

import tokenizers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(ROOT, "..", "shared", "data")
OUT = os.path.join(ROOT, "tests", "fixtures", "hf_pipeline_cases.json")

TEXTS = [
    "Hello world",
    "  Hello World!  ",
    "I'm sure you're right; they'll come, DON'T.",
    "3 33 333 3333 1234567 3.14 1,000",
    "a  b   c\tdone\n\nnew-line; x,y,z -- end",
    "Führer café naïve ΕΛΛΗΝΙΚΆ İstanbul",
    "我想在apple工作1314151天～",
    "🚀 emoji 🦙 and ½ ²",
    "def f(x):\n    return x**2  # square\n",
    "snake_case_name __dunder__ x1_y2",
    "<|end|>after special",
    "before<|end|> after",
    " leading space",
    "",
    "Ünïcödé ﬁ ligature and \u00a0nbsp\u3000wide",
]
SPECIAL = "<|end|>"


def corpus():
    with open(os.path.join(SHARED, "datasets", "tinyshakespeare", "input.txt"), encoding="utf-8") as f:
        return [f.read(6144)] + TEXTS * 2


def byte_level_pre(add_prefix_space=False, use_regex=True):
    return pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space, use_regex=use_regex)


# name -> (normalizer, pre_tokenizer, decoder, byte_level, model options)
CONFIGS = {
    "bytelevel_prefix_space": (None, byte_level_pre(add_prefix_space=True), decoders.ByteLevel(), True, {}),
    "digits_contiguous": (None, pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=False), byte_level_pre()]),
                          decoders.ByteLevel(), True, {}),
    "punctuation_merged_next": (
        None,
        pre_tokenizers.Sequence([
            pre_tokenizers.Punctuation(behavior="isolated"),
            pre_tokenizers.Split(Regex(r"\s+"), behavior="merged_with_next"),
            byte_level_pre(use_regex=False),
        ]),
        decoders.ByteLevel(), True, {}),
    "split_behaviors": (
        None,
        pre_tokenizers.Sequence([
            pre_tokenizers.Split("-", behavior="removed"),
            pre_tokenizers.Split(Regex(r"[,;]"), behavior="merged_with_previous"),
            pre_tokenizers.Split(Regex(r"\d"), behavior="contiguous"),
            pre_tokenizers.Punctuation(behavior="merged_with_next"),
            byte_level_pre(use_regex=False),
        ]),
        decoders.ByteLevel(), True, {}),
    "split_invert": (
        None,
        pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(r"\S+"), behavior="removed", invert=True),
            pre_tokenizers.Split(Regex(r"\p{L}+"), behavior="isolated", invert=True),
            byte_level_pre(use_regex=False),
        ]),
        decoders.ByteLevel(), True, {}),
    "normalizers_bytelevel": (
        normalizers.Sequence([
            normalizers.Strip(left=True, right=True),
            normalizers.Lowercase(),
            normalizers.Replace(Regex(r"\s+"), " "),
            normalizers.Prepend("^"),
        ]),
        byte_level_pre(),
        decoders.ByteLevel(), True, {"ignore_merges": True}),
    "metaspace_split_always": (None, pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True),
                               decoders.Sequence([decoders.Metaspace(replacement="\u2581", prepend_scheme="always"),
                                                  decoders.ByteFallback(), decoders.Fuse()]), False, {}),
    "metaspace_split_first": (None, pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=True),
                              decoders.Sequence([decoders.ByteFallback(),
                                                 decoders.Metaspace(replacement="\u2581", prepend_scheme="first")]),
                              False, {}),
    "metaspace_never_custom": (None, pre_tokenizers.Metaspace(replacement="_", prepend_scheme="never", split=False),
                               decoders.Sequence([decoders.Replace("_", " "), decoders.ByteFallback(), decoders.Fuse()]),
                               False, {}),
    "replace_normalizer_gemma": (normalizers.Replace(" ", "\u2581"),
                                 pre_tokenizers.Split(" ", behavior="merged_with_previous"),
                                 decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()]),
                                 False, {}),
    "prepend_replace_split": (
        normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")]),
        pre_tokenizers.Split("\u2581", behavior="merged_with_next"),
        decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
                           decoders.Strip(content=" ", left=1, right=0)]),
        False, {}),
    "whitespace_unk": (normalizers.Lowercase(), pre_tokenizers.Whitespace(), decoders.Fuse(), False,
                       {"byte_fallback": False, "fuse_unk": True}),
    "whitespace_split_digits": (
        None,
        pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Digits(individual_digits=True)]),
        decoders.Sequence([decoders.ByteFallback(), decoders.Fuse()]), False, {}),
}


def build(name, normalizer, pre, decoder, byte_level, options):
    byte_fallback = not byte_level and options.get("byte_fallback", True)
    tk = Tokenizer(models.BPE(unk_token=None if byte_level else "<unk>", ignore_merges=options.get("ignore_merges", False),
                              fuse_unk=options.get("fuse_unk", False)))
    if normalizer is not None:
        tk.normalizer = normalizer
    tk.pre_tokenizer = pre
    tk.decoder = decoder
    specials = [SPECIAL] if byte_level else ["<unk>", SPECIAL]
    alphabet = pre_tokenizers.ByteLevel.alphabet() if byte_level else []
    size = (256 if byte_level else 120) + 150
    limit = {} if byte_level else {"limit_alphabet": 100}  # raw text: rare characters go to <0xNN> / <unk>
    trainer = trainers.BpeTrainer(vocab_size=size, min_frequency=2, show_progress=False, special_tokens=specials,
                                  initial_alphabet=alphabet, **limit)
    tk.train_from_iterator(corpus(), trainer=trainer)
    data = json.loads(tk.to_str())
    if byte_fallback:
        vocab = data["model"]["vocab"]
        for b in range(256):
            vocab.setdefault(f"<0x{b:02X}>", len(vocab))
        data["model"]["byte_fallback"] = True
    # Trained tokenizers mark added tokens special; keep <unk> out of added_tokens matching as SentencePiece does.
    return Tokenizer.from_str(json.dumps(data))


def main():
    result = {"generator": "tests/reference/make_hf_pipeline_fixture.py",
              "versions": {"tokenizers": tokenizers.__version__}, "texts": TEXTS, "configs": {}}
    for name, config in CONFIGS.items():
        tk = build(name, *config)
        ids = [tk.encode(t, add_special_tokens=False).ids for t in TEXTS]
        result["configs"][name] = {
            "tokenizer": json.loads(tk.to_str()),
            "ids": ids,
            "decoded": [tk.decode(i, skip_special_tokens=False) for i in ids],
        }
        print(name, tk.get_vocab_size(), sum(len(i) for i in ids), "ids")
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(OUT, os.path.getsize(OUT), "bytes")


if __name__ == "__main__":
    main()
