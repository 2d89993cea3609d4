// Training records read from a JSON or JSONL file (plain, gzip or zstd), before tokenization. Three
// shapes, the ones users bring from Hugging Face / axolotl: plain text, instruction (Alpaca-style),
// and chat messages, either HF's {"role", "content"} or ShareGPT's "conversations" of
// {"from": "human" | "gpt" | "system", "value"}.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/chat_template.h"

namespace frugal {

enum class DatasetFormat { Auto, Text, Instruction, Chat };

// "auto" | "text" | "instruction" | "chat" (also "alpaca" for instruction); fails on anything else.
DatasetFormat parse_dataset_format(const std::string& name);
const char* dataset_format_name(DatasetFormat format);

// Key names inside each record; the defaults are Alpaca's and the HF chat convention. GPTeacher-style
// files use output_key = "response".
struct DatasetOptions {
  DatasetFormat format = DatasetFormat::Auto;  // Auto: decided by the keys of the first record
  std::string text_key = "text";
  std::string instruction_key = "instruction";
  std::string input_key = "input";  // optional in every record; missing or null means ""
  std::string output_key = "output";
  std::string messages_key = "messages";
};

// One record; only the fields of the dataset's format are filled.
struct Record {
  int64_t line = 0;                        // 1-based line where the record starts, for error messages
  std::string text;                        // Text
  std::string instruction, input, output;  // Instruction
  std::vector<ChatMessage> messages;       // Chat; roles are system, user or assistant
};

struct Dataset {
  std::string path;
  DatasetFormat format = DatasetFormat::Text;  // never Auto once loaded
  std::vector<Record> records;
};

// Reads `path` (decompressed first when it is gzip or zstd, compressed_text.h): a JSON file holding
// one array of objects, or JSONL (one object per line, blank lines allowed), told apart by the first
// non-blank character ('[' or '{') rather than by extension, since JSONL files are often named .json. Keys other than the configured ones are ignored. Any malformed
// JSON, non-object record, missing key, wrong value type or unknown chat role fails with
// "path: line N: problem". An empty dataset fails too.
Dataset load_dataset(const std::string& path, const DatasetOptions& options);

// The same from text already in memory; `path` only names it in errors.
Dataset parse_dataset(const std::string& text, const std::string& path, const DatasetOptions& options);

}  // namespace frugal
