#!/usr/bin/env bash
# Builds llama.cpp's tools once into .cache/llama.cpp/build/bin, from the source that PyPI's
# llama-cpp-python source package vendors (the only registry this machine may use). For side-by-side
# benchmarks and fixture scripts only: never needed by CI or by frugal itself.
#
# Usage: bench/build_llamacpp.sh [TARGET ...]   (default: llama-bench llama-quantize llama-perplexity llama-server)
# Prints the bin folder. Idempotent: an existing build is reused, a finished one is not rebuilt.
set -euo pipefail
cd "$(dirname "$0")/.."
version="0.3.36"  # llama-cpp-python; its vendor/llama.cpp is what gets built
root=".cache/llama.cpp"
src="$root/llama_cpp_python-$version/vendor/llama.cpp"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(llama-bench llama-quantize llama-perplexity llama-server)

if [ ! -f "$src/CMakeLists.txt" ]; then
  mkdir -p "$root"
  python3 -m pip download --quiet --no-deps --no-binary :all: --disable-pip-version-check -d "$root" \
    "llama-cpp-python==$version" >&2
  tar -xzf "$root/llama_cpp_python-$version.tar.gz" -C "$root"
fi
build="$root/build"
missing=()
for t in "${targets[@]}"; do [ -x "$build/bin/$t" ] || missing+=("$t"); done
if [ ${#missing[@]} -gt 0 ]; then
  cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
    -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF >&2
  cmake --build "$build" -j "$(nproc)" --target "${missing[@]}" >&2
fi
realpath "$build/bin"
