#include <cstdio>
#include <map>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "core/precision.h"
#include "kernels/half_matvec.h"
#include "kernels/int_dot.h"
#include "quant/ggml_types.h"
#include "model_options.h"

namespace frugal::cli {

int cmd_info(const Args& args) {
  std::vector<OptionSpec> specs = model_option_specs();
  specs.push_back({"json", "", OptionKind::Flag, "false", "print as JSON"});
  Options o("info", "Architecture, parameter count, tensor types and sizes of a model.", specs);
  if (!parse_or_help(o, args)) return 0;
  auto model = load_model_from(o);
  const LlamaConfig& c = model->config;

  std::map<std::string, std::pair<int64_t, uint64_t>> by_type;  // type -> (tensors, bytes)
  uint64_t total_bytes = 0;
  for (const SourceTensor& t : model->source_tensors) {
    by_type[t.type].first++;
    by_type[t.type].second += t.bytes;
    total_bytes += t.bytes;
  }
  const Vocab& v = model->tokenizer->vocab();
  nlohmann::ordered_json j;
  j["path"] = model->path;
  j["format"] = model_format_name(model->format);
  j["name"] = model->name;
  j["architecture"] = c.architecture;
  j["parameters"] = c.parameter_count();
  j["hidden_size"] = c.dim;
  j["layers"] = c.n_layers;
  j["heads"] = c.n_heads;
  j["kv_heads"] = c.n_kv_heads;
  j["head_dim"] = c.head_dim;
  j["ffn_size"] = c.ffn_dim;
  j["vocab_size"] = c.vocab_size;
  j["context_length"] = c.context_length;
  j["rope_theta"] = c.rope_theta;
  const RopeScaling& rs = c.rope_scaling;
  if (rs.scales())
    j["rope_scaling"] = {{"type", rope_type_name(rs.type)}, {"factor", rs.factor}, {"original_context", rs.original_context},
                         {"attention_factor", rope_attention_factor(rs)}, {"frequency_divisors", !rs.freq_divisors.empty()}};
  j["rms_eps"] = c.rms_eps;
  j["tied_embeddings"] = c.tied_output;
  j["qkv_bias"] = c.qkv_bias;
  j["tensor_bytes"] = total_bytes;
  for (const auto& [type, stats] : by_type) j["tensor_types"][type] = {{"tensors", stats.first}, {"bytes", stats.second}};
  j["tokenizer"] = {{"kind", v.kind == TokenizerKind::Spm ? "spm" : "bpe"}, {"pre", v.pre},
                    {"tokens", v.tokens.size()}, {"bos", v.bos_id}, {"eos", v.eos_id},
                    {"chat_template", !v.chat_template.empty()}};
  // Which compiled paths the products take on this CPU (decode dot products, block decoding, bf16 matmuls).
  j["kernels"] = {{"decode_dot_product", int_dot_isa()}, {"decode_16bit_weights", half_matvec_isa()},
                  {"block_dequantize", ggml_dequant_isa()},
                  {"bf16_matmul", cpu_has_native_bf16() ? "native" : "emulated (auto uses f32)"}};
  if (o.flag("json")) {
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("%s (%s, %s)\n", model->name.empty() ? model->path.c_str() : model->name.c_str(), c.architecture.c_str(),
              model_format_name(model->format).c_str());
  std::printf("parameters      %.2f M\n", c.parameter_count() / 1e6);
  std::printf("layers          %lld, hidden %lld, heads %lld (kv %lld, dim %lld), ffn %lld\n",
              (long long)c.n_layers, (long long)c.dim, (long long)c.n_heads, (long long)c.n_kv_heads,
              (long long)c.head_dim, (long long)c.ffn_dim);
  std::printf("vocabulary      %lld (%s tokenizer, pre %s)\n", (long long)c.vocab_size,
              v.kind == TokenizerKind::Spm ? "sentencepiece" : "byte-level BPE", v.pre.c_str());
  std::printf("context         %lld, rope theta %g, rms eps %g, %s output head\n", (long long)c.context_length,
              c.rope_theta, c.rms_eps, c.tied_output ? "tied" : "separate");
  if (rs.type == RopeType::Default && rs.scales())
    std::printf("rope scaling    per-frequency divisors (GGUF rope_freqs: Llama 3's scaling)\n");
  else if (rs.scales())
    std::printf("rope scaling    %s, factor %g, original context %lld, attention factor %.4g%s\n", rope_type_name(rs.type),
                rs.factor, (long long)rs.original_context, rope_attention_factor(rs),
                rs.freq_divisors.empty() ? "" : ", rope_freqs divisors");
  std::printf("tensor bytes    %.1f MiB\n", total_bytes / 1048576.0);
  for (const auto& [type, stats] : by_type)
    std::printf("  %-8s %4lld tensors %10.1f MiB\n", type.c_str(), (long long)stats.first, stats.second / 1048576.0);
  std::printf("chat template   %s\n", v.chat_template.empty() ? "none" : "yes");
  std::printf("kernels         decode dot products %s, 16-bit weights %s, block decoding %s, bf16 matmuls %s\n",
              int_dot_isa(), half_matvec_isa(), ggml_dequant_isa(),
              cpu_has_native_bf16() ? "native" : "emulated (auto uses f32)");
  return 0;
}

}  // namespace frugal::cli
