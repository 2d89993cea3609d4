#include "data/dataset.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string_view>

#include "core/error.h"
#include "data/compressed_text.h"

namespace frugal {

namespace {

using nlohmann::json;

std::string line_str(int64_t line) {
  return "line " + std::to_string(line);
}

// Maps byte offsets to 1-based line numbers.
class LineIndex {
 public:
  explicit LineIndex(std::string_view text) {
    starts_.push_back(0);
    for (size_t i = 0; i < text.size(); ++i)
      if (text[i] == '\n') starts_.push_back(i + 1);
  }
  int64_t line_of(size_t offset) const {
    return std::upper_bound(starts_.begin(), starts_.end(), offset) - starts_.begin();
  }

 private:
  std::vector<size_t> starts_;
};

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

size_t skip_blanks(std::string_view text, size_t pos) {
  while (pos < text.size() && is_blank(text[pos])) ++pos;
  return pos;
}

// nlohmann's message without its "[json.exception...] parse error at line L, column C: " prefix,
// since we report our own line (the library's counts from the start of the slice it was given).
std::string json_problem(const json::parse_error& e) {
  std::string_view msg = e.what();
  const size_t at = msg.find("parse error");
  if (at != std::string_view::npos) {
    const size_t colon = msg.find(": ", at);
    if (colon != std::string_view::npos) return "invalid JSON: " + std::string(msg.substr(colon + 2));
  }
  return "invalid JSON: " + std::string(msg);
}

// Where the JSON value starting at `begin` ('{' or '[') ends (one past its closing bracket), found by
// bracket counting outside strings; npos when the text ends first. Only used to cut the array into
// records so each record's line is known; nlohmann then checks each record's syntax properly.
size_t end_of_value(std::string_view text, size_t begin) {
  int64_t depth = 0;
  bool in_string = false;
  for (size_t i = begin; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"')
      in_string = true;
    else if (c == '{' || c == '[')
      ++depth;
    else if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
    }
  }
  return std::string_view::npos;
}

struct RawRecord {
  int64_t line;
  json value;
};

json parse_record(std::string_view slice, size_t offset, const LineIndex& lines, const std::string& path,
                  const char* hint) {
  try {
    return json::parse(slice);
  } catch (const json::parse_error& e) {
    const size_t at = offset + std::min(slice.size(), e.byte > 0 ? e.byte - 1 : 0);
    fail(path, line_str(lines.line_of(at)), json_problem(e) + hint);
  } catch (const json::exception& e) {
    // Well-formed JSON the library still refuses: a number beyond double's range (1e999) throws
    // out_of_range, not parse_error, and carries no position; the record's line is the place.
    std::string_view msg = e.what();
    if (const size_t p = msg.find("] "); p != std::string_view::npos) msg.remove_prefix(p + 2);
    fail(path, line_str(lines.line_of(offset)), "invalid JSON: " + std::string(msg));
  }
}

// A JSON file holding one array of objects.
std::vector<RawRecord> split_array(std::string_view text, size_t pos, const LineIndex& lines, const std::string& path) {
  std::vector<RawRecord> out;
  ++pos;  // '['
  pos = skip_blanks(text, pos);
  if (pos < text.size() && text[pos] == ']') {
    pos = skip_blanks(text, pos + 1);
  } else {
    while (true) {
      if (pos >= text.size()) fail(path, line_str(lines.line_of(text.size())), "the JSON array is not closed with ']'");
      const int64_t line = lines.line_of(pos);
      if (text[pos] != '{') fail(path, line_str(line), "each element of the JSON array must be an object {...}");
      const size_t end = end_of_value(text, pos);
      if (end == std::string_view::npos)
        fail(path, line_str(line), "this object is not closed (the file ends inside it)");
      out.push_back({line, parse_record(text.substr(pos, end - pos), pos, lines, path, "")});
      pos = skip_blanks(text, end);
      if (pos < text.size() && text[pos] == ',') {
        pos = skip_blanks(text, pos + 1);
        continue;
      }
      if (pos < text.size() && text[pos] == ']') {
        pos = skip_blanks(text, pos + 1);
        break;
      }
      fail(path, line_str(lines.line_of(std::min(pos, text.size()))), "expected ',' or ']' after an array element");
    }
  }
  if (pos < text.size()) fail(path, line_str(lines.line_of(pos)), "unexpected text after the JSON array");
  return out;
}

// JSONL: one object per non-blank line.
std::vector<RawRecord> split_lines(std::string_view text, size_t start, const LineIndex& lines,
                                   const std::string& path) {
  std::vector<RawRecord> out;
  size_t pos = start;  // past a byte order mark
  int64_t line = 0;
  while (pos < text.size()) {
    ++line;
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view row = text.substr(pos, end - pos);
    const size_t first = skip_blanks(row, 0);
    if (first < row.size()) {
      if (row[first] != '{') fail(path, line_str(line), "each line of a JSONL file must be one JSON object {...}");
      out.push_back({line, parse_record(row, pos, lines, path, " (JSONL needs each object on one line)")});
    }
    pos = end + 1;
  }
  return out;
}

const char* type_name(const json& v) {
  return v.type_name();
}

std::string get_string(const json& obj, const std::string& key, bool required, const std::string& path, int64_t line) {
  auto it = obj.find(key);
  if (it == obj.end() || (!required && it->is_null())) {
    if (required) fail(path, line_str(line), "missing key '" + key + "'");
    return "";
  }
  if (!it->is_string()) fail(path, line_str(line), "'" + key + "' must be a string, not " + type_name(*it));
  return it->get<std::string>();
}

// ShareGPT's list key, read when a record has no `messages_key` list (axolotl's `type: sharegpt`).
constexpr const char* kShareGptKey = "conversations";

DatasetFormat detect_format(const json& first, const DatasetOptions& o, const std::string& path, int64_t line) {
  if (first.contains(o.messages_key) || first.contains(kShareGptKey)) return DatasetFormat::Chat;
  if (first.contains(o.instruction_key)) return DatasetFormat::Instruction;
  if (first.contains(o.text_key)) return DatasetFormat::Text;
  std::string keys;
  for (auto it = first.begin(); it != first.end(); ++it) keys += (keys.empty() ? "" : ", ") + it.key();
  fail(path, line_str(line),
       "cannot tell the dataset format from the keys {" + keys + "}: expected '" + o.text_key + "', '" +
           o.instruction_key + "' + '" + o.output_key + "', '" + o.messages_key + "' or '" + kShareGptKey +
           "' (set dataset_format and the key names, e.g. output_key)");
}

// The role a message's speaker names: the HF convention's own, or ShareGPT's "human" / "gpt".
std::string chat_role(const std::string& speaker) {
  if (speaker == "human") return "user";
  if (speaker == "gpt") return "assistant";
  return speaker;
}

// A chat message is {"role", "content"} (HF) or {"from", "value"} (ShareGPT), told apart per message.
std::vector<ChatMessage> get_messages(const json& obj, const std::string& key, const std::string& path, int64_t line) {
  auto it = obj.find(key);
  if (it == obj.end() && key != kShareGptKey) it = obj.find(kShareGptKey);
  if (it == obj.end()) fail(path, line_str(line), "missing key '" + key + "'");
  const std::string& list_key = it.key();
  if (!it->is_array())
    fail(path, line_str(line), "'" + list_key + "' must be an array of messages, not " + type_name(*it));
  if (it->empty()) fail(path, line_str(line), "'" + list_key + "' is empty");
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < it->size(); ++i) {
    const json& m = (*it)[i];
    const std::string where = list_key + "[" + std::to_string(i) + "]";
    if (!m.is_object())
      fail(path, line_str(line), where + " must be an object {\"role\", \"content\"}, not " + type_name(m));
    const bool sharegpt = !m.contains("role") && m.contains("from");
    const char* role_key = sharegpt ? "from" : "role";
    const char* content_key = sharegpt ? "value" : "content";
    for (const char* field : {role_key, content_key}) {
      auto f = m.find(field);
      if (f == m.end()) fail(path, line_str(line), where + ": missing key '" + field + "'");
      if (!f->is_string()) fail(path, line_str(line), where + "." + field + " must be a string, not " + type_name(*f));
    }
    ChatMessage msg;
    msg.role = chat_role(m[role_key].get<std::string>());
    msg.content = m[content_key].get<std::string>();
    if (msg.role != "system" && msg.role != "user" && msg.role != "assistant")
      fail(path, line_str(line),
           where + ": unknown " + role_key + " '" + m[role_key].get<std::string>() +
               (sharegpt ? "' (expected system, human or gpt)" : "' (expected system, user or assistant)"));
    out.push_back(std::move(msg));
  }
  return out;
}

}  // namespace

DatasetFormat parse_dataset_format(const std::string& name) {
  if (name == "auto") return DatasetFormat::Auto;
  if (name == "text") return DatasetFormat::Text;
  if (name == "instruction" || name == "alpaca") return DatasetFormat::Instruction;
  if (name == "chat") return DatasetFormat::Chat;
  fail("dataset_format", "", "'" + name + "' is not one of auto, text, instruction, chat");
}

const char* dataset_format_name(DatasetFormat format) {
  switch (format) {
    case DatasetFormat::Auto:
      return "auto";
    case DatasetFormat::Text:
      return "text";
    case DatasetFormat::Instruction:
      return "instruction";
    case DatasetFormat::Chat:
      return "chat";
  }
  return "?";
}

Dataset parse_dataset(const std::string& content, const std::string& path, const DatasetOptions& options) {
  std::string_view text = content;
  const LineIndex lines(text);
  const size_t start = text.starts_with("\xEF\xBB\xBF") ? 3 : 0;  // UTF-8 byte order mark
  const size_t pos = skip_blanks(text, start);
  if (pos >= text.size()) fail(path, "line 1", "the dataset file is empty");

  std::vector<RawRecord> raw;
  if (text[pos] == '[') {
    raw = split_array(text, pos, lines, path);
  } else if (text[pos] == '{') {
    raw = split_lines(text, start, lines, path);
  } else {
    fail(path, line_str(lines.line_of(pos)), "expected a JSON array '[' or JSONL objects '{'");
  }
  if (raw.empty()) fail(path, "line 1", "the dataset has no records");

  Dataset ds;
  ds.path = path;
  ds.format =
      options.format == DatasetFormat::Auto ? detect_format(raw[0].value, options, path, raw[0].line) : options.format;
  ds.records.reserve(raw.size());
  for (RawRecord& r : raw) {
    Record rec;
    rec.line = r.line;
    const json& v = r.value;
    switch (ds.format) {
      case DatasetFormat::Text:
        rec.text = get_string(v, options.text_key, true, path, r.line);
        break;
      case DatasetFormat::Instruction:
        rec.instruction = get_string(v, options.instruction_key, true, path, r.line);
        rec.input = get_string(v, options.input_key, false, path, r.line);
        rec.output = get_string(v, options.output_key, true, path, r.line);
        break;
      case DatasetFormat::Chat:
        rec.messages = get_messages(v, options.messages_key, path, r.line);
        break;
      case DatasetFormat::Auto:
        break;
    }
    r.value = json();  // free as we go; the parsed tree is several times the text's size
    ds.records.push_back(std::move(rec));
  }
  return ds;
}

Dataset load_dataset(const std::string& path, const DatasetOptions& options) {
  return parse_dataset(
      read_text_maybe_compressed(path, "cannot open the dataset file", "cannot read the dataset file"), path, options);
}

}  // namespace frugal
