#!/usr/bin/env bash
# Builds frugal and runs every test: unit tests, the real-model tests on SmolLM2-135M, and upstream
# tools (the `gguf` Python package) reading frugal's artifacts and the `openai` client driving `frugal serve`.
# The few checks that take minutes (label "slow") are scripts/test_slow.sh's.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
# SmolLM2 (the default model) and the Gemma 3 / Qwen2.5 GGUFs the family tests compare with transformers.
scripts/fetch_model.sh all >/dev/null
# A small Python environment for the upstream checks only (never on the product's path).
venv=.cache/test-venv
if ! "$venv/bin/python" -c "import gguf, numpy, safetensors, openai" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check gguf numpy safetensors openai
fi
cd build
ctest --output-on-failure -j "$(nproc)" --timeout 900 -LE slow
