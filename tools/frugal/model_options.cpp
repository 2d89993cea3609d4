#include "model_options.h"

#include <omp.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/read_file.h"
#include "io/gguf_lora.h"
#include "io/peft_adapter.h"

namespace frugal::cli {

std::vector<OptionSpec> model_option_specs() {
  return {
      {"model", "-m", OptionKind::String, "", "model: a GGUF file, a Hugging Face folder, or a llama2.c .bin", true},
      {"tokenizer", "", OptionKind::String, "", "tokenizer file (llama2.c tok512.bin, GGUF, or HF folder); needed for llama2.c models"},
      {"adapter", "", OptionKind::String, "", "LoRA adapter to apply: a PEFT folder or a GGUF LoRA file (merged into the weights at load)"},
      {"load-in-4bit", "", OptionKind::String, "none", "hold the linear weights in 4 bits as QLoRA does: none, nf4, nf4-dq, fp4 or fp4-dq (dq: 8-bit scales)"},
      {"load-in-8bit", "", OptionKind::Flag, "false", "hold the linear weights as int8 rows with one absmax each, as bitsandbytes' LLM.int8 does"},
      {"keep-gguf-quantization", "", OptionKind::Flag, "false", "hold a GGUF model's linear weights as the file stores them (Q4_K, Q8_0, ...), dequantized per product"},
  };
}

std::vector<OptionSpec> precision_option_specs() {
  return {
      {"dtype", "", OptionKind::String, "auto", "matmul precision: f32 (everything dequantized to fp32: the reference), bf16 (fp32 accumulation; quantized GGUF blocks kept and decoded with integer dot products), or auto (f32 for an fp32-stored model, otherwise bf16 where the CPU has it)"},
      {"threads", "-t", OptionKind::Int, "0", "threads (0 = all cores)"},
  };
}

std::vector<OptionSpec> chat_template_option_specs() {
  return {
      {"chat-template-file", "", OptionKind::String, "", "Jinja chat template to use instead of the model's own (or for a model without one)"},
  };
}

std::string chat_template_source(const Options& o, const Model& model) {
  return o.was_set("chat-template-file") ? read_whole_file(o.get("chat-template-file")) : model.tokenizer->vocab().chat_template;
}

std::string chat_template_origin(const Options& o, const Model& model) {
  return o.was_set("chat-template-file") ? o.get("chat-template-file") : model.path;
}

namespace {

LoadOptions load_options_from(const Options& o) {
  const std::string q = o.get("load-in-4bit");
  LoadOptions load;
  if (q != "none") {
    if (q != "nf4" && q != "nf4-dq" && q != "fp4" && q != "fp4-dq")
      fail("--load-in-4bit must be none, nf4, nf4-dq, fp4 or fp4-dq, not '" + q + "'");
    load.quantize_linears = LinearQuantization{q.rfind("fp4", 0) == 0 ? Quant4Type::kFp4 : Quant4Type::kNf4, q.size() > 3};
  }
  if (o.flag("load-in-8bit")) {
    if (load.quantize_linears) fail("--load-in-8bit and --load-in-4bit: choose one");
    load.quantize_linears = LinearQuantization{};
    load.quantize_linears->int8 = true;
  }
  if (o.flag("keep-gguf-quantization")) {
    if (load.quantize_linears) fail("--keep-gguf-quantization and --load-in-4bit/--load-in-8bit: choose one");
    load.keep_gguf_types = true;
  }
  return load;
}

std::unique_ptr<Model> load_with(const Options& o, const LoadOptions& load, bool merge_adapter = true) {
  std::unique_ptr<Model> model = load_model(o.get("model"), o.get("tokenizer"), load);
  if (merge_adapter && o.was_set("adapter")) {
    const LoraAdapter adapter = load_adapter(o.get("adapter"), model->config);
    // Trained under rope_scaling: the merged model runs (and is exported) with the same RoPE.
    extend_context(model->config, adapter.context_extension, o.get("adapter"));
    merge_lora_into(model->weights, adapter);
  }
  return model;
}

// Every tensor of the source file is fp32 (llama2.c checkpoints, F32 GGUF or safetensors).
bool stored_in_f32(const Model& model) {
  for (const SourceTensor& t : model.source_tensors)
    if (t.type != "F32") return false;
  return !model.source_tensors.empty();
}

}  // namespace

std::unique_ptr<Model> load_model_from(const Options& o) { return load_with(o, load_options_from(o)); }

InferenceModel load_model_for_inference(const Options& o, bool merge_adapter) {
  const std::string dtype = o.get("dtype");
  Precision precision = precision_from(o);
  LoadOptions load = load_options_from(o);
  // Block-quantized GGUF matrices stay in their blocks, repacked for the decode kernels, unless
  // --dtype f32 asks for the reference path (everything dequantized to fp32 at load).
  if (dtype != "f32" && !load.quantize_linears) load.int_dot_layout = true;
  InferenceModel m{load_with(o, load, merge_adapter), precision};
  // auto follows the storage: an fp32 model computes in fp32 (a llama2.c checkpoint then reproduces
  // llama2.c's own output), anything stored in 16 bits or fewer takes the bf16 paths where the CPU has them.
  if (dtype == "auto" && stored_in_f32(*m.model)) m.precision = Precision::F32;
  return m;
}

LoraAdapter load_adapter(const std::string& path, const LlamaConfig& config) {
  const bool gguf = path.size() > 5 && path.compare(path.size() - 5, 5, ".gguf") == 0;
  return gguf ? read_gguf_lora(path, config) : read_peft_adapter(path, config);
}

Precision precision_from(const Options& o) {
  const int64_t threads = o.get_int("threads");
  if (threads < 0) fail("--threads must be >= 0");
  if (threads > 0) omp_set_num_threads(static_cast<int>(threads));
  return parse_precision(o.get("dtype"));
}

bool parse_or_help(Options& options, const std::vector<std::string>& args) {
  for (const std::string& a : args)
    if (a == "-h" || a == "--help") {
      std::fputs(options.help().c_str(), stdout);
      return false;
    }
  options.parse(args);
  return true;
}

}  // namespace frugal::cli
