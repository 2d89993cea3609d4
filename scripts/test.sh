#!/usr/bin/env bash
# Builds frugal and runs every test (unit tests, then the real-model tests on SmolLM2-135M).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
scripts/fetch_model.sh >/dev/null
cd build
ctest --output-on-failure -j "$(nproc)" --timeout 900
