#!/usr/bin/env python3
"""Real models' Jinja chat templates and what transformers renders from them, for
tests/unit/test_chat_template_jinja.cpp (frugal's own Jinja interpreter must match byte for byte).

Upstream versions used for the committed fixtures: transformers 4.57.6, jinja2 3.1.6, gguf 0.19.0
(the gguf package only reads templates out of GGUF files).

Each rendering is transformers' own PreTrainedTokenizerBase.apply_chat_template(conversation,
tokenize=False, add_generation_prompt=..., **variables) on a tokenizer whose chat_template is the
model's template and whose bos/eos tokens are the model's. That path passes messages, tools=None,
documents=None, add_generation_prompt, the special tokens and the extra variables to jinja2 with
transformers' settings (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols,
its own tojson, raise_exception and strftime_now). strftime_now reads a fixed clock (NOW below),
which the C++ test injects too. A case whose template raises records the exception's text instead.

Where the templates come from (each text was found identical in two independent copies where
noted; the fixture records its source):
  smollm2            tokenizer.chat_template of SmolLM2-135M-Instruct.Q4_1.gguf (scripts/fetch_model.sh;
                     = huggingface/huggingface.js packages/ollama-utils/src/chat-template-automap.ts,
                     entry library/smollm2:135m)
  qwen2_5            tokenizer.chat_template of qwen2.5-coder-0.5b-instruct-Q4_K_M.gguf (/work/models;
                     = ggml-org/llama.cpp models/templates/Qwen-Qwen2.5-7B-Instruct.jinja)
  qwen3              ggml-org/llama.cpp models/templates/Qwen-Qwen3-0.6B.jinja (from Qwen/Qwen3-0.6B;
                     = huggingface.js automap library/qwen3:0.6b)
  llama3_1           llama.cpp models/templates/meta-llama-Llama-3.1-8B-Instruct.jinja
                     (= huggingface.js automap library/llama3.1:8b)
  llama3_2           llama.cpp models/templates/meta-llama-Llama-3.2-3B-Instruct.jinja
                     (= huggingface.js automap library/llama3.2:3b); calls strftime_now
  gemma3             huggingface.js automap library/gemma3:270m (= the google/gemma-3 tokenizer_config.json
                     quoted in ShishirPatil/gorilla berkeley-function-call-leaderboard/bfcl_eval/
                     model_handler/local_inference/gemma.py)
  phi3_mini          huggingface.js automap library/phi3:3.8b (microsoft/Phi-3-mini-4k-instruct)
  phi3_5_mini        llama.cpp models/templates/microsoft-Phi-3.5-mini-instruct.jinja
  mistral_7b_v03     huggingface.js automap library/mistral:7b-instruct-fp16 (Mistral-7B-Instruct-v0.3's
                     GGUF template: user/assistant only, [INST] with spaces)
  mistral_nemo       llama.cpp models/templates/mistralai-Mistral-Nemo-Instruct-2407.jinja (tekken v3:
                     namespace, selectattr, tools branch)
  mistral_small_3_2  llama.cpp models/templates/Mistral-Small-3.2-24B-Instruct-2506.jinja (v7 tekken:
                     [SYSTEM_PROMPT], strftime_now, message.get)

Usage: /opt/frugal-ref/bin/python tests/reference/make_chat_template_fixtures.py
  (LLAMA_CPP=<llama.cpp source>, HFJS=<huggingface.js checkout>, MODELS=<folder with the GGUFs>)
"""
import datetime as _dt
import json
import os
import subprocess
import sys

import gguf
import jinja2
import transformers
import transformers.utils.chat_template_utils as ctu
from tokenizers import Tokenizer, models
from transformers import PreTrainedTokenizerFast

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "chat_templates")
LLAMA_CPP = os.environ.get("LLAMA_CPP", "/work/ext/llama_cpp_python-0.3.36/vendor/llama.cpp")
HFJS = os.environ.get("HFJS", "/work/.mirror/huggingface+huggingface.js/repo")
SMOL = os.environ.get("SMOL", os.path.join(ROOT, ".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"))
MODELS = os.environ.get("MODELS", "/work/models")
NOW = _dt.datetime(2024, 9, 25, 14, 30, 0)


class FixedClock(_dt.datetime):
    @classmethod
    def now(cls, tz=None):
        return NOW


ctu.datetime = FixedClock  # what transformers' strftime_now calls


def from_gguf(path):
    if not os.path.exists(path) and "/" not in path:
        path = os.path.join(ROOT, path)
    reader = gguf.GGUFReader(path)
    field = reader.fields["tokenizer.chat_template"]
    return bytes(field.parts[field.data[0]]).decode("utf-8")


def from_llama_cpp(name):
    with open(os.path.join(LLAMA_CPP, "models", "templates", name), encoding="utf-8") as f:
        return f.read()


_automap = None


def from_hfjs(model):
    # The TypeScript file is one array literal of {model, gguf, ollama} entries; node evaluates it.
    global _automap
    if _automap is None:
        ts = subprocess.run(["git", "-C", HFJS, "show", "HEAD:packages/ollama-utils/src/chat-template-automap.ts"],
                            check=True, capture_output=True, text=True).stdout
        lines = [l for l in ts.splitlines() if not l.startswith("import type")]
        js = "\n".join(lines).replace(": OllamaChatTemplateMapEntry[]", "").replace("export const", "const")
        js += "\nconst o = {}; for (const e of OLLAMA_CHAT_TEMPLATE_MAPPING) o[e.model] = e.gguf;"
        js += "\nprocess.stdout.write(JSON.stringify(o));"
        _automap = json.loads(subprocess.run(["node"], input=js, check=True, capture_output=True, text=True).stdout)
    return _automap[model]


HFJS_SRC = "huggingface/huggingface.js packages/ollama-utils/src/chat-template-automap.ts entry "
LCPP_SRC = "ggml-org/llama.cpp models/templates/"
TEMPLATES = [
    ("smollm2", lambda: from_gguf(SMOL), "SmolLM2-135M-Instruct.Q4_1.gguf tokenizer.chat_template", "<|im_start|>", "<|im_end|>"),
    ("qwen2_5", lambda: from_gguf(os.path.join(MODELS, "qwen2.5-coder-0.5b-instruct-Q4_K_M.gguf")),
     "qwen2.5-coder-0.5b-instruct-Q4_K_M.gguf tokenizer.chat_template (= " + LCPP_SRC + "Qwen-Qwen2.5-7B-Instruct.jinja)",
     None, "<|im_end|>"),
    ("qwen3", lambda: from_llama_cpp("Qwen-Qwen3-0.6B.jinja"), LCPP_SRC + "Qwen-Qwen3-0.6B.jinja", None, "<|im_end|>"),
    ("llama3_1", lambda: from_llama_cpp("meta-llama-Llama-3.1-8B-Instruct.jinja"),
     LCPP_SRC + "meta-llama-Llama-3.1-8B-Instruct.jinja", "<|begin_of_text|>", "<|eot_id|>"),
    ("llama3_2", lambda: from_llama_cpp("meta-llama-Llama-3.2-3B-Instruct.jinja"),
     LCPP_SRC + "meta-llama-Llama-3.2-3B-Instruct.jinja", "<|begin_of_text|>", "<|eot_id|>"),
    ("gemma3", lambda: from_hfjs("library/gemma3:270m"), HFJS_SRC + "library/gemma3:270m", "<bos>", "<eos>"),
    ("phi3_mini", lambda: from_hfjs("library/phi3:3.8b"), HFJS_SRC + "library/phi3:3.8b", "<s>", "<|endoftext|>"),
    ("phi3_5_mini", lambda: from_llama_cpp("microsoft-Phi-3.5-mini-instruct.jinja"),
     LCPP_SRC + "microsoft-Phi-3.5-mini-instruct.jinja", "<s>", "<|endoftext|>"),
    ("mistral_7b_v03", lambda: from_hfjs("library/mistral:7b-instruct-fp16"), HFJS_SRC + "library/mistral:7b-instruct-fp16",
     "<s>", "</s>"),
    ("mistral_nemo", lambda: from_llama_cpp("mistralai-Mistral-Nemo-Instruct-2407.jinja"),
     LCPP_SRC + "mistralai-Mistral-Nemo-Instruct-2407.jinja", "<s>", "</s>"),
    ("mistral_small_3_2", lambda: from_llama_cpp("Mistral-Small-3.2-24B-Instruct-2506.jinja"),
     LCPP_SRC + "Mistral-Small-3.2-24B-Instruct-2506.jinja", "<s>", "</s>"),
]

TRICKY = "Line one\nLine two\n  indented \"double\" and 'single' quotes,\ttab, {{ braces }} {% tags %}, émoji 🙂, 中文 "
CONVERSATIONS = [
    ("user", [{"role": "user", "content": "Hello!"}]),
    ("system_user", [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "What is 2+2?"}]),
    ("multi_turn", [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"},
                    {"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Blue."}]),
    ("system_multi_turn", [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"},
                           {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Bye"}]),
    ("tricky_text", [{"role": "system", "content": "  System with spaces \n"}, {"role": "user", "content": TRICKY},
                     {"role": "assistant", "content": "  padded answer \n\n"}, {"role": "user", "content": "ok\n"}]),
    ("thinking", [{"role": "user", "content": "Think first."},
                  {"role": "assistant", "content": "<think>\nSome reasoning.\n</think>\n\nThe answer."},
                  {"role": "user", "content": "Again?"}]),
    ("not_alternating", [{"role": "user", "content": "one"}, {"role": "user", "content": "two"}]),
]


def tokenizer_for(template, bos, eos):
    vocab = {"<unk>": 0}
    for t in (bos, eos):
        if t is not None:
            vocab.setdefault(t, len(vocab))
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="<unk>")))
    if bos is not None:
        tok.bos_token = bos
    if eos is not None:
        tok.eos_token = eos
    tok.chat_template = template
    return tok


def render(tok, messages, add_generation_prompt, variables):
    try:
        text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt,
                                       **variables)
        return {"expected": text}
    except jinja2.exceptions.TemplateError as e:
        return {"error": str(e)}


def main():
    os.makedirs(OUT, exist_ok=True)
    only = set(sys.argv[1:])
    for name, load, source, bos, eos in TEMPLATES:
        if only and name not in only:
            continue
        template = load()
        tok = tokenizer_for(template, bos, eos)
        cases = []
        variants = [{}]
        if "enable_thinking" in template:
            variants.append({"enable_thinking": False})
        for conv_name, messages in CONVERSATIONS:
            for variables in variants:
                for agp in (False, True):
                    case = {"name": conv_name + ("" if not variables else "_no_thinking") + ("_gen" if agp else ""),
                            "messages": messages, "add_generation_prompt": agp, "variables": variables}
                    case.update(render(tok, messages, agp, variables))
                    cases.append(case)
        fixture = {
            "name": name,
            "source": source,
            "upstream": {"transformers": transformers.__version__, "jinja2": jinja2.__version__},
            "bos_token": bos,
            "eos_token": eos,
            "now": NOW.strftime("%Y-%m-%dT%H:%M:%S"),
            "template": template,
            "cases": cases,
        }
        path = os.path.join(OUT, name + ".json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(fixture, f, ensure_ascii=False, indent=1)
            f.write("\n")
        errors = sum("error" in c for c in cases)
        print(f"{path}: {len(cases)} cases ({errors} raise)")


if __name__ == "__main__":
    main()
