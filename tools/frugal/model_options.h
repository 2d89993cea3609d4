// Options every model-using command shares, declared once.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "cli/options.h"
#include "core/precision.h"
#include "model/lora.h"
#include "model/model.h"

namespace frugal::cli {

std::vector<OptionSpec> model_option_specs();        // -m, --tokenizer
std::vector<OptionSpec> precision_option_specs();    // --dtype, --threads
std::vector<OptionSpec> chat_template_option_specs();  // --chat-template-file
// The chat template to render: --chat-template-file's text when given, else the model's own; and
// the name to put in its error messages.
std::string chat_template_source(const Options& options, const Model& model);
std::string chat_template_origin(const Options& options, const Model& model);
// Loads -m (with --tokenizer) and merges --adapter into it when given.
std::unique_ptr<Model> load_model_from(const Options& options);
// The inference commands' model (generate, perplexity, evaluate): -m loaded for decoding, and the
// precision --dtype resolves to for it (see --dtype's help).
struct InferenceModel {
  std::unique_ptr<Model> model;
  Precision precision;
};
// merge_adapter false: --adapter is left to the caller (frugal serve keeps its adapters unmerged).
InferenceModel load_model_for_inference(const Options& options, bool merge_adapter = true);  // also applies --threads
// A PEFT adapter folder or a GGUF LoRA file, by its name.
LoraAdapter load_adapter(const std::string& path, const LlamaConfig& config);
Precision precision_from(const Options& options);   // also applies --threads
// Declares the options, parses, and prints help when asked (returns false then).
bool parse_or_help(Options& options, const std::vector<std::string>& args);

}  // namespace frugal::cli
