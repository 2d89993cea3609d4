// Every command-line option is declared once here-style: name, default, help, kind. Parsing,
// validation and --help all come from the declaration (and later the YAML config keys too).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace frugal {

enum class OptionKind { String, Int, Float, Flag };

struct OptionSpec {
  std::string name;        // long name without dashes: "top-k"
  std::string short_name;  // "-m" or ""
  OptionKind kind = OptionKind::String;
  std::string default_value;  // "" = no default (required when `required`)
  std::string help;
  bool required = false;
  bool repeatable = false;  // may be given several times; get_all() returns every value in order
};

class Options {
 public:
  Options(std::string command, std::string summary, std::vector<OptionSpec> specs, std::string positional_help = "");

  // argv[0] is the first argument after the command name. Throws frugal::Error on an unknown
  // option, a missing value, a value of the wrong kind, or a missing required option.
  void parse(const std::vector<std::string>& args);
  bool help_requested() const { return help_; }
  std::string help() const;

  std::string get(const std::string& name) const;
  int64_t get_int(const std::string& name) const;
  double get_float(const std::string& name) const;
  bool flag(const std::string& name) const;
  bool was_set(const std::string& name) const { return set_.count(name) != 0; }
  // Every value a repeatable option was given, in command-line order (empty when never given).
  std::vector<std::string> get_all(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  const OptionSpec& spec(const std::string& name) const;
  std::string command_, summary_, positional_help_;
  std::vector<OptionSpec> specs_;
  std::map<std::string, std::string> values_;
  std::map<std::string, bool> set_;
  std::map<std::string, std::vector<std::string>> repeated_;
  std::vector<std::string> positional_;
  bool help_ = false;
};

}  // namespace frugal
