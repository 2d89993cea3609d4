#!/usr/bin/env python3
"""`frugal serve` driven by the official `openai` Python client (PyPI), on stories260K with two LoRA
adapters trained for the test (one served from its PEFT folder, one from its GGUF LoRA file):

- /v1/models lists the base and both adapters; each request picks one with `model`;
- greedy completions and chat completions equal `frugal generate` (which merges the adapter into
  the weights, where the server keeps it unmerged) for the base and each adapter, and the three
  texts differ, so the choice of adapter is what makes them;
- streamed chat and completions carry the same text, end with finish_reason, the usage chunk
  (stream_options.include_usage) and [DONE];
- a table of malformed requests, each answered with OpenAI's error object and the right status
  while a streamed request runs alongside and completes, and the server serves on afterwards;
- SIGTERM ends the server with exit code 0.

Usage: check_serve_openai.py FRUGAL_BINARY TEST_DATA   (needs `openai` in this Python)
"""
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading

import openai

FRUGAL, DATA = sys.argv[1], sys.argv[2]
MODEL = os.path.join(DATA, "stories260K", "stories260K.bin")
TOKENIZER = os.path.join(DATA, "stories260K", "tok512.bin")
KEY = "test-key"
CHATML = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
failures = []


def check(condition, what):
    if not condition:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def run(*args):
    # The model may generate bytes that are not UTF-8 (stories260K has byte tokens); JSON carries
    # them as U+FFFD, as Python's "replace" decodes them.
    out = subprocess.run([FRUGAL, *args], check=True, capture_output=True).stdout
    return out.decode("utf-8", errors="replace")


def train_adapter(work, name, text):
    data = os.path.join(work, name + ".jsonl")
    with open(data, "w") as f:
        f.write(json.dumps({"text": text}) + "\n")
    out = os.path.join(work, name)
    run("train", "--base_model", MODEL, "--tokenizer", TOKENIZER, "--dataset", data, "--output_dir", out,
        "--lora_r", "4", "--lora_alpha", "8", "--max_steps", "20", "--learning_rate", "2e-2", "--bf16", "false")
    return out


def generate(adapter, prompt, n, chat=False, template=None):
    args = ["generate", "-m", MODEL, "--tokenizer", TOKENIZER, "-p", prompt, "-n", str(n)]
    if adapter:
        args += ["--adapter", adapter]
    if chat:
        args += ["--chat", "--chat-template-file", template]
    out = run(*args)
    assert out.endswith("\n")
    return out[:-1]  # generate ends its output with a newline


def raw(port, method, path, body=None, key=KEY, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    h = {"Content-Type": "application/json"}
    if key:
        h["Authorization"] = "Bearer " + key
    h.update(headers or {})
    conn.request(method, path, body=body, headers=h)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, data


def main():
    work = tempfile.mkdtemp()
    template = os.path.join(work, "chatml.jinja")
    with open(template, "w") as f:
        f.write(CHATML)
    peft_dir = os.path.join(train_adapter(work, "cat", "The cat sat on the red mat and purred all day long."), "adapter")
    gguf_file = os.path.join(train_adapter(work, "boat", "Tom had a big blue boat. He liked to sail it on the lake."),
                             "adapter.gguf")
    adapters = {"stories260K": None, "cat": peft_dir, "boat": gguf_file}

    server = subprocess.Popen([FRUGAL, "serve", "-m", MODEL, "--tokenizer", TOKENIZER, "--port", "0", "--api-key", KEY,
                               "--adapter", "cat=" + peft_dir, "--adapter", "boat=" + gguf_file,
                               "--chat-template-file", template, "--max-body-bytes", "65536",
                               "--max-tokens-limit", "256"], stderr=subprocess.PIPE, text=True)
    try:
        line = server.stderr.readline()
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if not m:
            raise SystemExit("frugal serve did not start: " + line + server.stderr.read())
        port = int(m.group(1))
        exercise(port, adapters, template)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            code = "killed"
    check(code == 0, "server exits with 0 on SIGTERM, got %s" % code)
    if failures:
        raise SystemExit("%d checks failed" % len(failures))
    print("serve: all checks passed")


def exercise(port, adapters, template):
    client = openai.OpenAI(base_url="http://127.0.0.1:%d/v1" % port, api_key=KEY, max_retries=0, timeout=60)
    ids = [m.id for m in client.models.list().data]
    check(ids == list(adapters), "models %s" % ids)

    prompt, n = "Once upon a time", 24
    texts = {}
    for model, adapter in adapters.items():
        want = generate(adapter, prompt, n)
        got = client.completions.create(model=model, prompt=prompt, max_tokens=n, temperature=0)
        check(got.choices[0].text == want, "%s completion %r != generate %r" % (model, got.choices[0].text, want))
        check(got.usage.completion_tokens <= n and got.object == "text_completion", "%s completion shape" % model)
        texts[model] = got.choices[0].text

        want_chat = generate(adapter, "Hi", n, chat=True, template=template)
        chat = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Hi"}],
                                              max_tokens=n, temperature=0)
        check(chat.choices[0].message.content == want_chat,
              "%s chat %r != generate --chat %r" % (model, chat.choices[0].message.content, want_chat))
        check(chat.choices[0].message.role == "assistant", "%s chat role" % model)

        chunks = list(client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Hi"}],
                                                     max_tokens=n, temperature=0, stream=True,
                                                     stream_options={"include_usage": True}))
        streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        check(streamed == want_chat, "%s streamed chat %r != %r" % (model, streamed, want_chat))
        finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
        check(finishes == [chat.choices[0].finish_reason], "%s stream finish %s" % (model, finishes))
        check(chunks[-1].usage is not None and chunks[-1].usage.total_tokens == chat.usage.total_tokens,
              "%s stream usage chunk" % model)

        pieces = list(client.completions.create(model=model, prompt=prompt, max_tokens=n, temperature=0, stream=True))
        check("".join(p.choices[0].text for p in pieces if p.choices) == want, "%s streamed completion" % model)
    check(len(set(texts.values())) == 3, "base and adapters give different texts: %s" % texts)

    # Sampling with a seed is reproducible and equals `frugal generate` with the same settings.
    sampled = client.completions.create(model="cat", prompt=prompt, max_tokens=n, temperature=0.9, top_p=0.9, seed=5)
    want = run("generate", "-m", MODEL, "--tokenizer", TOKENIZER, "-p", prompt, "-n", str(n), "--adapter",
               adapters["cat"], "--temperature", "0.9", "--top-p", "0.9", "--seed", "5")[:-1]
    check(sampled.choices[0].text == want, "seeded sample %r != generate %r" % (sampled.choices[0].text, want))

    try:
        openai.OpenAI(base_url="http://127.0.0.1:%d/v1" % port, api_key="wrong", max_retries=0).models.list()
        check(False, "a wrong key is refused")
    except openai.AuthenticationError as e:
        check(e.status_code == 401, "wrong key status")
    try:
        client.completions.create(model="nobody", prompt="x", max_tokens=2)
        check(False, "an unknown model is refused")
    except openai.NotFoundError as e:
        check(e.body["code"] == "model_not_found", "unknown model code %s" % e.body)

    # Malformed requests while a streamed request runs alongside; every one gets its status.
    streamed_text = []

    def long_stream():
        s = client.completions.create(model="boat", prompt=prompt, max_tokens=200, temperature=0, stream=True)
        streamed_text.append("".join(p.choices[0].text for p in s if p.choices))

    runner = threading.Thread(target=long_stream)
    runner.start()
    chat_path, text_path = "/v1/chat/completions", "/v1/completions"
    msgs = '"messages": [{"role": "user", "content": "Hi"}]'
    table = [
        ("POST", chat_path, b"{not json", 400),
        ("POST", chat_path, b"[1, 2]", 400),
        ("POST", chat_path, b'{"messages": [{"role": "user", "content": "\xff\xfe"}]}', 400),
        ("POST", chat_path, b"{}", 400),
        ("POST", chat_path, b'{"messages": []}', 400),
        ("POST", chat_path, b'{"messages": [{"role": "user"}]}', 400),
        ("POST", chat_path, b'{"messages": [{"role": "robot", "content": "x"}]}', 400),
        ("POST", chat_path, ('{%s, "max_tokens": "ten"}' % msgs).encode(), 400),
        ("POST", chat_path, ('{%s, "max_tokens": 1e308}' % msgs).encode(), 400),
        ("POST", chat_path, ('{%s, "max_tokens": 123456789012345678901234567890}' % msgs).encode(), 400),
        ("POST", chat_path, ('{%s, "max_tokens": 257}' % msgs).encode(), 400),
        ("POST", chat_path, ('{%s, "max_tokens": -3}' % msgs).encode(), 400),
        ("POST", chat_path, ('{%s, "temperature": 7}' % msgs).encode(), 400),
        ("POST", chat_path, ('{%s, "top_p": "all"}' % msgs).encode(), 400),
        ("POST", chat_path, ('{%s, "n": 3}' % msgs).encode(), 400),
        ("POST", chat_path, ('{%s, "stop": [1, 2]}' % msgs).encode(), 400),
        ("POST", chat_path, ('{%s, "stream": "yes"}' % msgs).encode(), 400),
        ("POST", chat_path, ('{%s, "model": "ghost"}' % msgs).encode(), 404),
        ("POST", chat_path, ('{%s, "model": 42}' % msgs).encode(), 400),
        ("POST", text_path, b'{"prompt": 3.5}', 400),
        ("POST", text_path, b'{"prompt": [1, 99999999999]}', 400),
        ("POST", text_path, b'{"prompt": [100000]}', 400),
        ("POST", text_path, ('{"prompt": "%s", "max_tokens": 256}' % ("Lily saw a ball. " * 150)).encode(), 400),
        ("POST", text_path, b'{"prompt": "x"}' + b" " * 70000, 413),
        ("POST", "/detokenize", b'{"tokens": ["a"]}', 400),
        ("POST", "/tokenize", b'{"content": 5}', 400),
        ("GET", "/v1/nowhere", None, 404),
        ("GET", "/v1/models", None, 401, None),
    ]
    for case in table:
        method, path, body, status = case[:4]
        key = case[4] if len(case) > 4 else KEY
        got, data = raw(port, method, path, body, key=key)
        check(got == status, "%s %s %r: status %d, want %d (%s)" % (method, path, (body or b"")[:60], got, status, data[:200]))
        try:
            error = json.loads(data)["error"]
            check(set(error) == {"message", "type", "param", "code"} and error["message"],
                  "%s %s: error object %s" % (method, path, error))
        except (ValueError, KeyError, TypeError):
            check(False, "%s %s: no OpenAI error object in %r" % (method, path, data[:200]))
    runner.join(timeout=120)
    check(len(streamed_text) == 1 and streamed_text[0].startswith(texts["boat"]),
          "the parallel stream completed with the greedy text: %s" % streamed_text)
    print("malformed requests: %d answered with their status" % len(table))

    status, data = raw(port, "GET", "/health", key=None)
    check(status == 200, "health after the table")
    again = client.completions.create(model="stories260K", prompt=prompt, max_tokens=n, temperature=0)
    check(again.choices[0].text == texts["stories260K"], "serves on after the malformed requests")
    status, data = raw(port, "GET", "/metrics")
    metrics = data.decode()
    check(status == 200 and 'frugal_requests_total{route="/v1/chat/completions",status="400"}' in metrics
          and "frugal_generation_tokens_total" in metrics, "metrics:\n" + metrics)


if __name__ == "__main__":
    main()
