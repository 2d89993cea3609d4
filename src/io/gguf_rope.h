// GGUF's RoPE scaling <-> RopeScaling, in the keys and tensors llama.cpp's converter writes:
// <arch>.rope.scaling.{type, factor, original_context_length, attn_factor, yarn_attn_factor,
// yarn_beta_fast, yarn_beta_slow}, and the F32 tensors rope_freqs (Llama 3's per-frequency
// divisors) and rope_factors_long / rope_factors_short (LongRoPE). GGUF has no dynamic NTK.
#pragma once
#include <cstdint>
#include <string>

#include "format/gguf.h"
#include "format/gguf_writer.h"
#include "kernels/rope_scaling.h"

namespace frugal {

// `arch` is the key prefix with its dot ("llama."); `context_length` the file's <arch>.context_length.
RopeScaling rope_scaling_from_gguf(const GgufFile& g, const std::string& arch, int64_t head_dim,
                                   int64_t context_length);

// Metadata keys for a scaling; fails on what GGUF cannot hold (dynamic NTK, YaRN without truncation).
void set_gguf_rope_metadata(GgufWriter& w, const RopeScaling& s, const std::string& arch, const std::string& source);
// The tensors a scaling needs (rope_freqs, rope_factors_long/short), if any.
void add_gguf_rope_tensors(GgufWriter& w, const RopeScaling& s, double theta, int64_t head_dim);

}  // namespace frugal
