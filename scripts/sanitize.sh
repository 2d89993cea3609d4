#!/usr/bin/env bash
# The sanitizer runs of CI (.ci/run), with clang in their own build folders:
#   scripts/sanitize.sh            build-asan (ASan + UBSan, fuzz targets), then the unit tests under it,
#                                  the fuzz regressions replayed, and every fuzz target for
#                                  FRUGAL_FUZZ_SECONDS (default 20) from its seeds; then `tsan` below
#   scripts/sanitize.sh build [TARGET...]   only build build-asan (every target by default; frugal_fuzz: the fuzzers)
#   scripts/sanitize.sh tsan       build-tsan (ThreadSanitizer), then the unit tests whose code runs
#                                  OpenMP regions (kernels, training pass, optimizer, trainer, quantized
#                                  matrices, model init, GGUF writer, inference); see tests/sanitizers/README.md
#   scripts/sanitize.sh asan-options | ubsan-options | lsan-options   the runtime options (scripts/fuzz.sh)
# Suppressions (tests/sanitizers/*.supp) say, each with its reason, what is not frugal's to fix.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
supp="$root/tests/sanitizers"

tsan_options() { echo "halt_on_error=1:second_deadlock_stack=1:ignore_noninstrumented_modules=1:suppressions=$supp/tsan.supp"; }
asan_options() { echo "detect_leaks=1:check_initialization_order=1:strict_init_order=1:detect_odr_violation=2"; }
ubsan_options() { echo "print_stacktrace=1:halt_on_error=1:suppressions=$supp/ubsan.supp"; }
lsan_options() { echo "suppressions=$supp/lsan.supp:print_suppressions=0"; }

# Clang for both (libFuzzer needs it, and one build then serves the unit tests and the fuzzers);
# its OpenMP is LLVM's libomp (libomp-dev). ccache when present, as for the main build.
build_asan() {
  local launcher=""
  command -v ccache >/dev/null && launcher="-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache"
  FRUGAL_EXTRA_PACKAGES="clang libclang-rt-dev libomp-dev" \
  FRUGAL_CMAKE_ARGS="-DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DFRUGAL_SANITIZE=address,undefined -DFRUGAL_FUZZ=ON $launcher ${FRUGAL_CMAKE_ARGS:-}" \
    scripts/setup.sh build-asan "$@"
}

# ThreadSanitizer does not see libgomp's barriers (GCC's OpenMP runtime is not instrumented), so with
# it every OpenMP region reports races that are not there. clang's libomp with its Archer tool
# (libarcher.so, in libomp-dev) tells TSan about every fork, join, barrier and task: the regions in
# frugal's code are then checked for real. oneDNN keeps its own libgomp: its threads run only its own
# (uninstrumented, so unseen) code, and ignore_noninstrumented_modules drops what they do through
# intercepted calls such as memcpy.
build_tsan() {
  local launcher=""
  command -v ccache >/dev/null && launcher="-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache"
  FRUGAL_EXTRA_PACKAGES="clang libclang-rt-dev libomp-dev" \
  FRUGAL_CMAKE_ARGS="-DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DFRUGAL_SANITIZE=thread $launcher ${FRUGAL_CMAKE_ARGS:-}" \
    scripts/setup.sh build-tsan frugal frugal_unit_tests
}
# The suites that run frugal's OpenMP regions; the rest of the unit tests are single-threaded parsing.
tsan_filter="*IntDot*:Attention*:AttentionTrain*:Dropout*:Matmul*:Rope*:Weights*:TrainingPass*:TrainAdamW*:TrainGradNorm*:Trainer*:Int8Rowwise*:QLora*:InitModel*:GgufWriter*:Stories260K*:Nf4Fast*:*Family.*"

mpi_tests='DataParallel\.|TwoRanks\.'

run_tsan() {
  build_tsan
  local archer; archer="$(clang -print-resource-dir)/../../libarcher.so"
  [ -f "$archer" ] || { echo "sanitize: no $archer (libomp-dev)" >&2; return 1; }
  OMP_TOOL_LIBRARIES="$archer" TSAN_OPTIONS="$(tsan_options)" \
    build-tsan/tests/frugal_unit_tests --gtest_filter="$tsan_filter" --gtest_brief=1
}

export_options() {
  export ASAN_OPTIONS="$(asan_options)" UBSAN_OPTIONS="$(ubsan_options)" LSAN_OPTIONS="$(lsan_options)"
}

fuzz_all() {
  # New inputs go to a scratch folder; logs and any finding stay in .cache/fuzz-ci for the report.
  local seconds="${FRUGAL_FUZZ_SECONDS:-20}" summary="" scratch="$root/.cache/fuzz-ci"
  rm -rf "$scratch" && mkdir -p "$scratch"
  for src in tests/fuzz/fuzz_*.cpp; do
    local name; name="$(basename "$src" .cpp)"; name="${name#fuzz_}"
    local bin="build-asan/tests/fuzz/fuzz_$name"
    # Inputs that once crashed or hung, run once each: they must now end cleanly.
    if compgen -G "tests/fuzz/regressions/$name/*" >/dev/null; then
      "$bin" -timeout=10 -rss_limit_mb=2560 -malloc_limit_mb=1024 tests/fuzz/regressions/$name/* 2>"$scratch/$name.replay.log" ||
        { cat "$scratch/$name.replay.log" >&2; echo "sanitize: fuzz_$name fails on a regression input" >&2; return 1; }
    fi
    rm -rf "$scratch/$name" && mkdir -p "$scratch/$name"
    if ! OMP_NUM_THREADS=1 "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2560 -malloc_limit_mb=1024 \
           -print_final_stats=1 -artifact_prefix="$scratch/$name-" "$scratch/$name" "tests/fuzz/corpus/$name" \
           2>"$scratch/$name.log"; then
      tail -n 60 "$scratch/$name.log" >&2
      echo "sanitize: fuzz_$name found a problem: the input is $scratch/$name-*, the log $scratch/$name.log" >&2
      return 1
    fi
    local runs; runs="$(grep -o 'stat::number_of_executed_units: [0-9]*' "$scratch/$name.log" | grep -o '[0-9]*$')"
    summary+="  fuzz_$name: $runs runs in ${seconds}s, no finding"$'\n'
  done
  printf 'sanitize: fuzzing\n%s' "$summary"
}

case "${1:-ci}" in
  asan-options) asan_options ;;
  ubsan-options) ubsan_options ;;
  lsan-options) lsan_options ;;
  build) shift; build_asan "$@" ;;
  ci)
    # What runs here, not the model tests or benchmarks (scripts/test.sh builds and runs those).
    build_asan frugal frugal_unit_tests frugal_fuzz
    export_options
    # Every unit test under ASan + UBSan: about 70 s on 2 cores, twice their plain time, so none is
    # left out. The ones that run ranks under mpirun check memory errors but not leaks: Open MPI 4.1
    # leaks at init in components it has unloaded by exit, which no suppression can name.
    (cd build-asan && ctest -L unit -E "$mpi_tests" --output-on-failure -j "$(nproc)" --timeout 900)
    (cd build-asan && ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" \
       ctest -L unit -R "$mpi_tests" --output-on-failure -j "$(nproc)" --timeout 900)
    fuzz_all
    run_tsan
    ;;
  tsan) run_tsan ;;
  *) echo "usage: scripts/sanitize.sh [ci | build [TARGET...] | tsan | asan-options | ubsan-options | lsan-options]" >&2; exit 2 ;;
esac
