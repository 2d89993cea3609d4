#!/usr/bin/env python3
"""Token ids for llama2.c's tok512 tokenizer, computed by SentencePiece itself on tok512.model
(the SentencePiece model tok512.bin was exported from), for tests/unit/test_tokenizer_llama2c.cpp.

Upstream versions used for the committed fixture: sentencepiece 0.2.3, protobuf 7.36.2.

llama2.c's run.c encode() and SentencePiece agree on the algorithm (a dummy-prefix space, U+2581 for
spaces, BPE merges by highest score with ties to the left, byte fallback), but tok512.model was
trained with SentencePiece's default remove_extra_whitespaces = true, a normalization step run.c
does not have (it would drop leading/trailing spaces and squeeze runs of spaces). The script turns
that one flag off in the loaded model, so SentencePiece encodes exactly the text run.c sees.

Writes tests/fixtures/tok512_cases.txt: one case per line, "escaped text<TAB>ids", where the text
escapes backslash, tab, newline and carriage return as \\ \t \n \r, and ids are space-separated
(no BOS, as EncodeAsIds; run.c adds BOS itself). The cases are a few hand-picked strings plus
llama.cpp's 46 tokenizer test cases (tests/data/vocab/*.inp).

Usage: /opt/frugal-ref/bin/python tests/reference/make_tok512_fixture.py
"""
import os

import google.protobuf
import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2 as model_pb2

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEST_DATA = os.path.join(ROOT, "tests", "data")
OUT = os.path.join(ROOT, "tests", "fixtures", "tok512_cases.txt")

CASES = [
    "Once upon a time, there was a little girl named Lily.",
    'Lily\'s mom said, "Lily, let\'s go to the park."',
    "Hello world",
    " leading space",
    "  two  spaces   and trailing  ",
    "Tabs\tand\nnewlines\n",
    "Unicode: h\u00e9llo w\u00f6rld \u2014 \u201cquotes\u201d \u65e5\u672c\u8a9e \U0001f999",
    "Numbers 12345 and 3.14",
    "<s> is not special here </s>",
]


def escape(text):
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def main():
    proto = model_pb2.ModelProto()
    with open(os.path.join(TEST_DATA, "stories260K", "tok512.model"), "rb") as f:
        proto.ParseFromString(f.read())
    assert proto.normalizer_spec.add_dummy_prefix
    proto.normalizer_spec.remove_extra_whitespaces = False
    sp = spm.SentencePieceProcessor(model_proto=proto.SerializeToString())

    with open(os.path.join(TEST_DATA, "vocab", "ggml-vocab-gpt-2.gguf.inp"), encoding="utf-8") as f:
        vectors = f.read().split("\n__ggml_vocab_test__\n")[:-1]
    assert len(vectors) == 46

    lines = [
        "# tok512 (llama2.c stories260K) ids from SentencePiece %s (protobuf %s), remove_extra_whitespaces off;"
        % (spm.__version__, google.protobuf.__version__),
        "# written by tests/reference/make_tok512_fixture.py. Format: escaped text<TAB>ids",
    ]
    for text in CASES + vectors:
        ids = sp.EncodeAsIds(text)
        assert sp.DecodeIds(ids) == text or "\u2581" in text
        lines.append(escape(text) + "\t" + " ".join(str(i) for i in ids))
    with open(OUT, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print(OUT, os.path.getsize(OUT), "bytes,", len(lines) - 2, "cases")


if __name__ == "__main__":
    main()
