#!/usr/bin/env bash
# The main job on the built-in default: builds frugal, fetches SmolLM2-135M-Instruct, shows what the
# model is and chats with it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
model="$(scripts/fetch_model.sh)"
./build/frugal info -m "$model"
echo
prompt="${1:-What is the capital of France? Answer in one sentence.}"
echo "> $prompt"
./build/frugal generate -m "$model" --chat -p "$prompt" -n 64
