#!/usr/bin/env bash
# The checks that take minutes each (ctest label "slow", tests/slow/): calibrated pruning of
# SmolLM2-135M against llm-compressor's recorded figures. Kept out of scripts/test.sh so CI stays
# short on a busy machine; run after it (same build).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
scripts/fetch_model.sh smollm2 >/dev/null
cd build
ctest --output-on-failure --timeout 3600 -L slow
