#include "cli/options.h"

#include <cerrno>
#include <cstdlib>

#include "core/error.h"

namespace frugal {

namespace {
bool parse_int(const std::string& s, int64_t& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || *end != '\0') return false;
  out = v;
  return true;
}
bool parse_float(const std::string& s, double& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (errno != 0 || *end != '\0') return false;
  out = v;
  return true;
}
}  // namespace

Options::Options(std::string command, std::string summary, std::vector<OptionSpec> specs, std::string positional_help)
    : command_(std::move(command)), summary_(std::move(summary)), positional_help_(std::move(positional_help)),
      specs_(std::move(specs)) {
  for (const OptionSpec& s : specs_) values_[s.name] = s.default_value;
}

const OptionSpec& Options::spec(const std::string& name) const {
  for (const OptionSpec& s : specs_)
    if (s.name == name) return s;
  fail("internal: option --" + name + " is not declared for '" + command_ + "'");
}

void Options::parse(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") {
      help_ = true;
      return;
    }
    if (a.size() < 2 || a[0] != '-') {
      positional_.push_back(a);
      continue;
    }
    std::string name = a, value;
    bool has_value = false;
    if (a.rfind("--", 0) == 0) {
      name = a.substr(2);
      size_t eq = name.find('=');
      if (eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_value = true;
      }
    }
    const OptionSpec* found = nullptr;
    for (const OptionSpec& s : specs_)
      if (s.name == name || (!s.short_name.empty() && s.short_name == a)) found = &s;
    // Users of transformers/axolotl write underscores; accept them for the dashed names.
    if (!found)
      for (const OptionSpec& s : specs_) {
        std::string alt = s.name;
        for (char& c : alt)
          if (c == '-') c = '_';
        if (alt == name) found = &s;
      }
    if (!found) fail(command_ + ": unknown option '" + a + "' (see frugal " + command_ + " --help)");
    if (found->kind == OptionKind::Flag) {
      if (has_value) {
        if (value != "true" && value != "false") fail(command_ + ": --" + found->name + " takes true or false");
        values_[found->name] = value;
      } else {
        values_[found->name] = "true";
      }
    } else {
      if (!has_value) {
        if (i + 1 >= args.size()) fail(command_ + ": option " + a + " needs a value");
        value = args[++i];
      }
      int64_t iv;
      double fv;
      if (found->kind == OptionKind::Int && !parse_int(value, iv))
        fail(command_ + ": --" + found->name + " needs a whole number, got '" + value + "'");
      if (found->kind == OptionKind::Float && !parse_float(value, fv))
        fail(command_ + ": --" + found->name + " needs a number, got '" + value + "'");
      values_[found->name] = value;
      repeated_[found->name].push_back(value);
    }
    set_[found->name] = true;
  }
  for (const OptionSpec& s : specs_)
    if (s.required && !set_.count(s.name))
      fail(command_ + ": missing required option --" + s.name + (s.short_name.empty() ? "" : " (" + s.short_name + ")"));
}

std::string Options::help() const {
  std::string out = "usage: frugal " + command_ + " [options]" + (positional_help_.empty() ? "" : " " + positional_help_) +
                    "\n" + summary_ + "\n\noptions:\n";
  for (const OptionSpec& s : specs_) {
    std::string left = "  " + (s.short_name.empty() ? std::string("    ") : s.short_name + ", ") + "--" + s.name;
    if (s.kind != OptionKind::Flag) left += s.kind == OptionKind::Int ? " N" : s.kind == OptionKind::Float ? " X" : " VALUE";
    if (left.size() < 30) left.resize(30, ' ');
    out += left + " " + s.help;
    if (s.repeatable) out += " (repeatable)";
    if (s.required) out += " (required)";
    else if (!s.default_value.empty() && s.kind != OptionKind::Flag) out += " [default: " + s.default_value + "]";
    out += "\n";
  }
  out += "  -h, --help                   show this help\n";
  return out;
}

std::string Options::get(const std::string& name) const {
  spec(name);
  return values_.at(name);
}

int64_t Options::get_int(const std::string& name) const {
  int64_t v = 0;
  if (!parse_int(get(name), v)) fail(command_ + ": --" + name + " needs a whole number");
  return v;
}

double Options::get_float(const std::string& name) const {
  double v = 0;
  if (!parse_float(get(name), v)) fail(command_ + ": --" + name + " needs a number");
  return v;
}

std::vector<std::string> Options::get_all(const std::string& name) const {
  spec(name);
  auto it = repeated_.find(name);
  return it == repeated_.end() ? std::vector<std::string>{} : it->second;
}

bool Options::flag(const std::string& name) const { return get(name) == "true"; }

}  // namespace frugal
