#!/usr/bin/env bash
# Installs what frugal needs to build (Debian packages) and builds it. Idempotent: packages already
# present are not reinstalled, and the build is incremental.
# Usage: scripts/setup.sh [build-dir [target ...]]   (default: build, every target)
#   scripts/setup.sh build frugal   builds only the command-line program (what run_default.sh runs);
#   the tests and benchmarks are what takes most of a full build's time.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(g++ cmake make pkg-config libdnnl-dev nlohmann-json3-dev libpcre2-dev libyaml-cpp-dev zlib1g-dev libzstd-dev libgtest-dev libgmock-dev python3 python3-pip python3-venv unzip libopenmpi-dev openmpi-bin iproute2 libcpp-httplib-dev)
# More for some builds only, e.g. clang and its sanitizer and libFuzzer runtimes (scripts/sanitize.sh).
read -r -a extra <<<"${FRUGAL_EXTRA_PACKAGES:-}"
packages+=("${extra[@]}")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

build_dir="${1:-build}"
shift || true
targets=()
for t in "$@"; do targets+=(--target "$t"); done
jobs="$(nproc)"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release ${FRUGAL_CMAKE_ARGS:-} >/dev/null
# The progress lines are dropped; warnings and errors stay. The build's own status decides, not grep's.
status=0
cmake --build "$build_dir" -j "$jobs" "${targets[@]}" 2>&1 | { grep -vE '^\[ *[0-9]+%\]' || true; } || status=$?
[ "$status" -eq 0 ] && [ -x "$build_dir/frugal" ] || { echo "setup: build failed" >&2; exit 1; }
