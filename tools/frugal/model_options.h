// Options every model-using command shares, declared once.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "cli/options.h"
#include "core/precision.h"
#include "model/model.h"

namespace frugal::cli {

std::vector<OptionSpec> model_option_specs();        // -m, --tokenizer
std::vector<OptionSpec> precision_option_specs();    // --dtype, --threads
std::unique_ptr<Model> load_model_from(const Options& options);
Precision precision_from(const Options& options);   // also applies --threads
// Declares the options, parses, and prints help when asked (returns false then).
bool parse_or_help(Options& options, const std::vector<std::string>& args);
// Reads a whole file; fails naming it.
std::string read_text_file(const std::string& path);

}  // namespace frugal::cli
