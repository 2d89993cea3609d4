#!/usr/bin/env bash
# Runs one libFuzzer target (tests/fuzz/fuzz_TARGET.cpp) for SECONDS, with ASan + UBSan, from the
# committed seeds. New inputs go to .cache/fuzz/TARGET (kept between runs, not committed); a crash,
# hang or sanitizer report is written to .cache/fuzz/TARGET/artifacts and ends the run with non-zero
# status: make it a fix plus a file in tests/fuzz/regressions/TARGET (replayed by scripts/sanitize.sh).
# Usage: scripts/fuzz.sh TARGET [SECONDS=600]      targets: ls tests/fuzz/fuzz_*.cpp
#   scripts/fuzz.sh list                           the target names
# Builds build-asan first (scripts/sanitize.sh build) unless FRUGAL_FUZZ_NO_BUILD=1.
set -euo pipefail
cd "$(dirname "$0")/.."

targets() { for f in tests/fuzz/fuzz_*.cpp; do basename "$f" .cpp | sed 's/^fuzz_//'; done; }
target="${1:?usage: scripts/fuzz.sh TARGET [SECONDS] (scripts/fuzz.sh list)}"
if [ "$target" = list ]; then targets; exit 0; fi
seconds="${2:-600}"
[ -f "tests/fuzz/fuzz_$target.cpp" ] || { echo "fuzz: no target '$target' (one of: $(targets | tr '\n' ' '))" >&2; exit 2; }

build=build-asan
[ "${FRUGAL_FUZZ_NO_BUILD:-0}" = 1 ] || scripts/sanitize.sh build frugal "fuzz_$target"
work=".cache/fuzz/$target"
mkdir -p "$work/corpus" "$work/artifacts"
# -rss_limit_mb / -malloc_limit_mb: a reader that believes a size field and allocates gigabytes is a
# finding (it must check the size against the file first). -timeout: one input taking longer is a hang.
ASAN_OPTIONS="${ASAN_OPTIONS:-}:$(scripts/sanitize.sh asan-options)" \
UBSAN_OPTIONS="$(scripts/sanitize.sh ubsan-options)" \
LSAN_OPTIONS="$(scripts/sanitize.sh lsan-options)" \
OMP_NUM_THREADS=1 \
  "$build/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2560 -malloc_limit_mb=1024 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$work/corpus" "tests/fuzz/corpus/$target"
