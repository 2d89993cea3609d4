// A whole model written so that a failure leaves nothing behind: a GGUF goes through
// AtomicFileWriter; a Hugging Face folder is written beside its destination under a temporary name
// and renamed into place (a model folder already there is replaced only once the new one is complete).
#pragma once
#include <string>
#include <vector>

#include "io/export_model.h"

namespace frugal {

enum class ExportFormat { Gguf, HfFolder };
// "gguf", "hf", or "auto" (GGUF when `out` ends in .gguf).
ExportFormat parse_export_format(const std::string& name, const std::string& out);

// Checked before any long work: the parent folder is writable, and an existing `out` is something
// this may replace (a file for GGUF; an empty folder or a model folder, with config.json, for HF).
void check_export_destination(const std::string& out, ExportFormat format);

// Writes the model; returns export_gguf's / export_hf's notes for the user.
std::vector<std::string> export_model_atomically(const Model& model, const std::string& out, ExportFormat format,
                                                 ExportDtype dtype);

}  // namespace frugal
