#!/usr/bin/env python3
"""Every GGUF `tokenizer.ggml.pre` name llama.cpp accepts, its flags, and the pieces each pre-tokenizer
cuts a varied text set into, for tests/unit/test_pretokenizer.cpp.

Upstream versions used for the committed fixture: tokenizers 0.22.2 (the Hugging Face library, its
Split pre-tokenizer with the Oniguruma regex engine), and llama.cpp as vendored in llama-cpp-python
0.3.36 (src/llama-vocab.cpp, src/unicode.cpp).

Facts are read from llama.cpp's source, not transcribed by hand:
  * names and flags: the `tokenizer_pre == "..."` chain of llama_vocab::impl::load for BPE
    vocabularies (pre type, ignore_merges, add_bos, clean_spaces, escape_whitespaces);
  * regexes: the llm_tokenizer_bpe constructor's regex_exprs per pre type (and byte_encode).
    Where llama.cpp rewrote a regex and left the original from tokenizer.json in a comment, the
    original is used, since the Hugging Face tokenizer is what the model was trained with.
    Three llama.cpp patterns are triggers for hand-written splitters rather than regexes; they are
    replaced by the regexes those splitters implement (see REGEX_OVERRIDES).
Pieces come from the `tokenizers` library: pre_tokenizers.Sequence of Split(Regex(r),
behavior="isolated") over the regex list, which is how llama.cpp's unicode_regex_split applies the
list (each regex cuts every piece the previous ones left, matches and the text between them both
becoming pieces). They are stored as byte lengths of consecutive pieces.

When llama.cpp's source is at hand and a C++ compiler is present, the script also compiles
llama.cpp's unicode.cpp into a throwaway program (in a temporary folder, never committed) and
records, per pre type, the texts where llama.cpp's own splitting (its hand-written gpt2 / llama3 /
qwen2 / qwen35 / kimi-k2 / afmoe / newline splitters, or std::regex on its category-collapsed text)
differs from the Hugging Face pieces: "llama_cpp_differs".

Usage: /opt/frugal-ref/bin/python tests/reference/make_pretokenizer_fixture.py [llama.cpp dir]
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import tokenizers
from tokenizers import Regex, pre_tokenizers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LLAMA_CPP = sys.argv[1] if len(sys.argv) > 1 else "/work/ext/llama_cpp_python-0.3.36/vendor/llama.cpp"
OUT = os.path.join(ROOT, "tests", "fixtures", "pretokenizer_pieces.json")

CONTRACTIONS_TEXT = "I'm sure you're right; we've said they'll come, he'd go, it's DON'T I'LL She'S We'Ve a'lL 'D"
TEXTS = [
    "Hello world",
    " Hello World!",
    "Hello, y'all! How are you 😁 ?我想在apple工作1314151天～",
    CONTRACTIONS_TEXT,
    "3 33 333 3333 33333 333333 3333333 33333333 333333333 1234567890123",
    "3.3 3..3 3...3 1,234,567.89 $100 +5% -7e10 0x1F 12ab34 ab12 ½ ² ³ ① ٣٤٥ १२३",
    "a  b   c    d     e",
    "trailing spaces   ",
    "\t\ttabs\tand\t \tmixed",
    "\n",
    "\n\n\n",
    "line one\nline two\r\nline three\r\rfour\n\n  indented\n",
    "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n",
    "Führer café naïve Ελληνικά Cửa Việt",
    "нещо на Български язык",
    "مرحبا بالعالم ١٢٣",
    "नमस्ते दुनिया हिन्दी",
    "ภาษาไทย ไม่มีช่องว่าง",
    "កាន់តែពិសេសអាចខលចេញ",
    "我想在apple工作，今天是2024年。",
    "こんにちは世界、カタカナとひらがな！",
    "안녕하세요 세계 123",
    "🚀 (normal) 😶‍🌫️ (multiple emojis concatenated) ✅ 🦙🦙 👨‍👩‍👧",
    "def f(x):\n    return x**2  # square\n",
    "\tif (a<=b && c!=d) { x += 1; } // done",
    "https://example.com/path?q=1&r=two#frag",
    "CamelCaseWord HTTPServer iPhone XMLHttpRequest ÀÉÎõü",
    "!!!!!! ?????? ...... ------======= ''''''``````\"\"\"\"",
    "<tag attr=\"v\">^~|</tag> @user #hash",
    "ＡＢＣ１２３！　全角",
    "<sentinel:12>IMGIMGABZ text",
    "'s 's' x's 're 'RE",
    "   leading spaces",
    " ",
    "a\u00a0b\u2009c\u3000d",
    "e\u0301 combining acute, ﬁ ligature",
    "nel\u0085vt\x0bff\x0c end\u2028sep",
    "x_y snake_case __dunder__ 1_000",
]

# llama.cpp triggers for hand-written splitters -> the regex each splitter implements.
REGEX_OVERRIDES = {
    # unicode_regex_split_custom_afmoe: a run of \p{N} is cut into its first len % 3 characters (when
    # not 0), then groups of three.
    r"\p{AFMoE_digits}": r"\p{N}{1,3}(?=(?:\p{N}{3})*(?!\p{N}))",
    # unicode_regex_split_custom_kimi_k2, whose comments give Kimi K2's tiktoken pattern (its
    # contractions are matched case-insensitively there).
    r"\p{Han}+": "|".join([
        r"[\p{Han}]+",
        r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
        r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
        r"\p{N}{1,3}",
        r" ?[^\s\p{L}\p{N}]+[\r\n]*",
        r"\s*[\r\n]+",
        r"\s+(?!\S)",
        r"\s+",
    ]),
}
# GRANITE_EMB_MULTI has only llama.cpp's lookahead rewrite, whose "(?=[\p{L}\p{M}])([^a-z])" stands
# for "[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]" on llama.cpp's category-collapsed text only; its comment says
# it is GPT-4o's pattern with \p{M}, which GPT-4o's original (o200k) already has in those classes.
TYPE_OVERRIDES = {"GRANITE_EMB_MULTI": "GPT4O"}


def c_string(literal):
    """Value of the C string literal body `literal` (without quotes)."""
    out, i = [], 0
    escapes = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "'": "'", "0": "\0"}
    while i < len(literal):
        ch = literal[i]
        if ch == "\\":
            out.append(escapes[literal[i + 1]])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


LITERAL = re.compile(r'"((?:[^"\\]|\\.)*)"')


def read_source(name):
    with open(os.path.join(LLAMA_CPP, "src", name), encoding="utf-8") as f:
        return f.read()


def parse_names(src):
    """{name: flags} from the BPE branch's tokenizer_pre chain."""
    start = src.index('} else if (tokenizer_pre == "default")')
    end = src.index("unknown pre-tokenizer type", start)
    chain = src[start:end]
    names = {}
    for cond, body in re.findall(r"if \(((?:\s*tokenizer_pre == \"[^\"]+\"\s*(?:\|\|)?)+)\)\s*\{(.*?)\n\s*\}", chain, re.S):
        pre_type = re.search(r"pre_type = LLAMA_VOCAB_PRE_TYPE_(\w+);", body).group(1)
        flags = {"type": pre_type, "ignore_merges": False, "add_bos": False, "clean_spaces": True,
                 "escape_whitespaces": False}
        for key, value in re.findall(r"\b(ignore_merges|add_bos|clean_spaces|escape_whitespaces) = (true|false);", body):
            flags[key] = value == "true"
        for name in re.findall(r'tokenizer_pre == "([^"]+)"', cond):
            names[name] = dict(flags)
    return names


def parse_regexes(src):
    """{pre type: (regexes, byte_encode)} from llm_tokenizer_bpe's constructor."""
    start = src.index("llm_tokenizer_bpe(const llama_vocab & vocab)")
    end = src.index("std::vector<std::string> regex_exprs;", start)
    body = src[start:end]
    types = {}
    for labels, block in re.findall(r"((?:\s*(?:case LLAMA_VOCAB_PRE_TYPE_\w+|default):)+)(.*?)break;", body, re.S):
        regexes, original = [], None
        # Comments before `regex_exprs = {` count too (TEKKEN keeps its original there).
        inside = block[:block.index("};")]
        in_list = False
        for line in inside.splitlines():
            if "regex_exprs = {" in line:
                in_list = True
                continue
            stripped = line.strip()
            lits = LITERAL.findall(stripped)
            if stripped.startswith("//"):
                if "original regex" in stripped:
                    original = "pending"
                if lits and original == "pending":
                    original = c_string(lits[0])
                continue
            for lit in lits if in_list else []:
                regex = c_string(lit)
                regexes.append(original if original not in (None, "pending") else regex)
                original = None
        regexes = [REGEX_OVERRIDES.get(r, r) for r in regexes]
        byte_encode = "byte_encode = false" not in block
        for label in re.findall(r"case LLAMA_VOCAB_PRE_TYPE_(\w+)|(default)", labels):
            types[label[0] or "DEFAULT"] = (regexes, byte_encode)
    return types


def hf_pieces(regexes, text):
    pre = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(r), behavior="isolated", invert=False) for r in regexes])
    pieces = [p for p, _ in pre.pre_tokenize_str(text)]
    assert "".join(pieces) == text
    return [len(p.encode("utf-8")) for p in pieces]


HARNESS = r"""
#include "unicode.h"
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>
static std::string unhex(const std::string& h) {
  std::string s;
  for (size_t i = 0; i + 1 < h.size(); i += 2) s += (char)std::stoi(h.substr(i, 2), nullptr, 16);
  return s;
}
// stdin: a line "R <hex regex>" per regex, then "T <hex text>" per text; prints piece lengths per text.
int main() {
  std::vector<std::string> regexes;
  std::string kind, hex;
  while (std::cin >> kind) {
    if (!(std::cin >> hex)) hex.clear();
    if (kind == "R") { regexes.push_back(unhex(hex)); continue; }
    if (kind == "C") { regexes.clear(); continue; }
    std::string out;
    try {
      for (const std::string& piece : unicode_regex_split(unhex(hex == "-" ? "" : hex), regexes, false))
        out += std::to_string(piece.size()) + " ";
    } catch (const std::exception& e) { out = "error"; }
    std::cout << out << "\n";
  }
}
"""


def llama_cpp_splitter(tmp):
    src = os.path.join(LLAMA_CPP, "src")
    exe = os.path.join(tmp, "split")
    with open(os.path.join(tmp, "harness.cpp"), "w") as f:
        f.write(HARNESS)
    subprocess.run(["g++", "-std=c++17", "-O1", "-I", src, os.path.join(tmp, "harness.cpp"),
                    os.path.join(src, "unicode.cpp"), os.path.join(src, "unicode-data.cpp"), "-o", exe], check=True)
    return exe


def llama_cpp_pieces(exe, raw_regexes, texts):
    lines = ["R " + r.encode("utf-8").hex() for r in raw_regexes]
    lines += ["T " + (t.encode("utf-8").hex() or "-") for t in texts]
    out = subprocess.run([exe], input="\n".join(lines) + "\n", capture_output=True, text=True, check=True).stdout
    rows = out.split("\n")[: len(texts)]
    return [None if r == "error" else [int(x) for x in r.split()] for r in rows]


def main():
    vocab_src = read_source("llama-vocab.cpp")
    names = parse_names(vocab_src)
    types = parse_regexes(vocab_src)
    names_by_type = {}
    for name, flags in names.items():
        names_by_type.setdefault(flags["type"], []).append(name)
        flags["byte_encode"] = types.get(flags["type"], types["DEFAULT"])[1]
    # llama.cpp reads a missing tokenizer.ggml.pre as "default".
    names.setdefault("default", {"type": "DEFAULT", "ignore_merges": False, "add_bos": False, "clean_spaces": True,
                                 "escape_whitespaces": False, "byte_encode": True})

    raw_types = {}  # llama.cpp's own regex lists, for its splitter
    start = vocab_src.index("llm_tokenizer_bpe(const llama_vocab & vocab)")
    for t in set(f["type"] for f in names.values()):
        if t not in types:
            types[t] = types["DEFAULT"]
    result_types = {}
    exe = None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            exe = llama_cpp_splitter(tmp)
        except (OSError, subprocess.CalledProcessError) as e:
            print("llama.cpp splitter not built, no cross-check:", e)
        for t in sorted(set(f["type"] for f in names.values())):
            source_type = TYPE_OVERRIDES.get(t, t)
            regexes, byte_encode = types[source_type]
            entry = {"regexes": regexes, "byte_encode": types[t][1],
                     "pieces": [hf_pieces(regexes, text) for text in TEXTS]}
            if exe:
                raw = raw_regex_list(vocab_src[start:], t)
                theirs = llama_cpp_pieces(exe, raw, TEXTS)
                entry["llama_cpp_differs"] = [i for i, p in enumerate(theirs) if p != entry["pieces"][i]]
            result_types[t] = entry
    result = {
        "generator": "tests/reference/make_pretokenizer_fixture.py",
        "versions": {"tokenizers": tokenizers.__version__, "llama.cpp": "vendored in llama-cpp-python 0.3.36"},
        "texts": TEXTS,
        "names": dict(sorted(names.items())),
        "types": result_types,
    }
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"{len(names)} names, {len(result_types)} pre types, {len(TEXTS)} texts, {os.path.getsize(OUT)} bytes")
    for t, e in result_types.items():
        if e.get("llama_cpp_differs"):
            print(f"  llama.cpp differs from tokenizers for {t} on texts {e['llama_cpp_differs']}")


def raw_regex_list(constructor_src, pre_type):
    """llama.cpp's regex_exprs for `pre_type` exactly as it passes them to unicode_regex_split."""
    body = constructor_src[: constructor_src.index("std::vector<std::string> regex_exprs;")]
    for labels, block in re.findall(r"((?:\s*(?:case LLAMA_VOCAB_PRE_TYPE_\w+|default):)+)(.*?)break;", body, re.S):
        hit = re.findall(r"case LLAMA_VOCAB_PRE_TYPE_(\w+)|(default)", labels)
        if any(pre_type == (a or "DEFAULT") for a, _ in hit):
            inside = block[block.index("regex_exprs = {"):block.index("};")]
            return [c_string(lit) for line in inside.splitlines() if not line.strip().startswith("//")
                    for lit in LITERAL.findall(line)]
    return raw_regex_list(constructor_src, "DEFAULT")


if __name__ == "__main__":
    main()
