#!/usr/bin/env bash
# Creates the Python environment the fixture scripts (tests/reference/*.py) and the side-by-side
# benchmarks (bench/) use: the real upstream libraries from PyPI. Not needed to build or test frugal:
# the fixtures they produce are committed. Idempotent.
# Usage: tests/reference/setup_reference_env.sh   (env: FRUGAL_REF_VENV, default /opt/frugal-ref)
set -euo pipefail
venv="${FRUGAL_REF_VENV:-/opt/frugal-ref}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check \
  torch transformers gguf safetensors sentencepiece protobuf tokenizers numpy peft bitsandbytes accelerate
echo "$venv/bin/python"
