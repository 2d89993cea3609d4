// Real models' Jinja chat templates rendered by frugal must equal, byte for byte, what
// transformers' apply_chat_template renders (tests/fixtures/chat_templates/*.json, made by
// tests/reference/make_chat_template_fixtures.py), including the text of raise_exception. Broken
// templates fail with one line naming the construct and its template line, and never crash.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <iomanip>
#include <random>
#include <sstream>

#include "core/error.h"
#include "tokenizer/chat_template.h"

namespace frugal {
namespace {

const std::string kFixtures = std::string(FRUGAL_FIXTURES) + "/chat_templates";

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  EXPECT_TRUE(f.good()) << path;
  return nlohmann::json::parse(f);
}

std::tm parse_now(const std::string& iso) {  // "2024-09-25T14:30:00"
  std::tm t{};
  std::istringstream in(iso);
  in >> std::get_time(&t, "%Y-%m-%dT%H:%M:%S");
  EXPECT_FALSE(in.fail()) << iso;
  std::mktime(&t);  // fills the weekday and day of year
  return t;
}

std::vector<ChatMessage> messages_of(const nlohmann::json& j) {
  std::vector<ChatMessage> out;
  for (const auto& m : j) out.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
  return out;
}

std::optional<std::string> optional_string(const nlohmann::json& j) {
  if (j.is_null()) return std::nullopt;
  return j.get<std::string>();
}

std::vector<std::string> fixture_files() {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(kFixtures))
    if (entry.path().extension() == ".json") files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

TEST(ChatTemplateJinja, MatchesTransformersOnRealTemplates) {
  const std::vector<std::string> files = fixture_files();
  ASSERT_GE(files.size(), 11u);
  int rendered = 0, raised = 0;
  for (const std::string& path : files) {
    const nlohmann::json fx = read_json(path);
    const std::string name = fx["name"];
    const ChatTemplate tpl(fx["template"].get<std::string>(), name + ".gguf");
    EXPECT_TRUE(tpl.is_jinja()) << name << " fell back to a built-in rendering";
    ChatOptions base;
    base.bos_token = optional_string(fx["bos_token"]);
    base.eos_token = optional_string(fx["eos_token"]);
    base.now = parse_now(fx["now"]);
    for (const auto& c : fx["cases"]) {
      ChatOptions o = base;
      o.add_generation_prompt = c["add_generation_prompt"];
      o.variables = c["variables"];
      const std::string where = name + " / " + c["name"].get<std::string>();
      if (c.contains("expected")) {
        try {
          EXPECT_EQ(tpl.render(messages_of(c["messages"]), o), c["expected"].get<std::string>()) << where;
          ++rendered;
        } catch (const Error& e) {
          ADD_FAILURE() << where << ": " << e.what();
        }
      } else {
        try {
          tpl.render(messages_of(c["messages"]), o);
          ADD_FAILURE() << where << ": rendered, but transformers raised: " << c["error"];
        } catch (const Error& e) {
          const std::string what = e.what();
          EXPECT_NE(what.find(c["error"].get<std::string>()), std::string::npos) << where << ": " << what;
          EXPECT_TRUE(what.starts_with(name + ".gguf: tokenizer.chat_template: line ")) << what;
          ++raised;
        }
      }
    }
  }
  EXPECT_GE(rendered, 150);
  EXPECT_GE(raised, 10);
}

std::string render_error(const std::string& tpl) {
  try {
    ChatTemplate t(tpl, "model.gguf");
    ChatOptions o;
    o.bos_token = "<s>";
    t.render({{"user", "hi"}}, o);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ChatTemplateJinja, BrokenTemplatesFailWithOneLine) {
  const std::string p = "model.gguf: tokenizer.chat_template: ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"hello\n{{ messages | wordwrap }}", p + "line 2: filter 'wordwrap' is not supported"},
      {"{% macro m() %}x{% endmacro %}", p + "line 1: statement 'macro' is not supported"},
      {"a\nb\n{% if x is prime %}{% endif %}", p + "line 3: test 'prime' is not supported"},
      {"{{ 'x'.zfill(3) }}", p + "line 1: method 'zfill' is not supported"},
      {"{% if true %}\nopen", p + "line 2: the template ends inside a block: expected {% endif %}"},
      {"{{ 1 +", p + "line 1: a tag {{ is never closed"},
      {"{{ 'abc }}", p + "line 1: a string literal is never closed"},
      {"{# unclosed", p + "line 1: a comment {# is never closed"},
      {"{% endfor %}", p + "line 1: unexpected 'endfor'"},
      {"{% frobnicate %}", p + "line 1: unknown statement 'frobnicate'"},
      {"{{ (1 }}", p + "line 1: unexpected '}'"},
      {"{{ 1 $ 2 }}", p + "line 1: unexpected character '$'"},
      {"\n\n{{ raise_exception('Only user and assistant roles are supported!') }}",
       p + "line 3: Only user and assistant roles are supported!"},
      {"{{ undefined_thing + 'x' }}", p + "line 1: 'undefined_thing' is undefined"},
      {"{{ messages[0].role.missing.deeper }}", p + "line 1: 'str object' has no attribute 'missing'"},
      {"{{ 1 + 'a' }}", p + "line 1: unsupported operand type(s) for +: 'int' and 'str'"},
      {"{{ 1 // 0 }}", p + "line 1: integer division or modulo by zero"},
      {"{% for i in range(1000000) %}{% endfor %}", p + "line 1: range too big: over 100000 items"},
      {"{% set x = 1 %}{% set x.y = 2 %}", p + "line 1: cannot assign attribute on non-namespace object"},
      {"{% break %}", p + "line 1: 'break' outside a for loop"},
      {"{{ 'x' * 100000000000 }}", p + "line 1: a repeated sequence would exceed the output bound"},
      {"{% set ns = namespace(a=1) %}{{ ns | tojson }}", p + "line 1: Object of type Namespace is not JSON serializable"},
      // A cycle of shared_ptr would leak (found by LeakSanitizer), directly or through a list or dict.
      {"{% set ns = namespace(a=1) %}\n{% set ns.a = ns %}", p + "line 2: a namespace cannot contain itself"},
      {"{% set ns = namespace(a=1) %}{% set ns.a = [1, {'k': ns}] %}", p + "line 1: a namespace cannot contain itself"},
      {"{% set ns = namespace(a=1) %}{% for i in range(200) %}{% set ns.a = namespace(a=ns.a) %}{% endfor %}{{ ns }}",
       p + "line 1: a value is nested too deeply (or contains itself)"},
      {"", "model.gguf: tokenizer.chat_template: the model has no chat template"},
  };
  for (const auto& [tpl, expected] : cases) {
    const std::string got = render_error(tpl);
    EXPECT_EQ(got, expected) << tpl;
    EXPECT_EQ(got.find('\n'), std::string::npos) << got;
  }
  // Deep nesting and runaway loops are bounded errors, not stack overflows or hangs.
  EXPECT_NE(render_error("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}").find("nests too deeply"), std::string::npos);
  EXPECT_NE(render_error("{{ " + std::string(5000, '[') + std::string(5000, ']') + " }}").find("nests too deeply"),
            std::string::npos);
  EXPECT_NE(render_error("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}")
                .find("steps"),
            std::string::npos);
  EXPECT_NE(render_error("{% for a in range(100000) %}{% for b in range(10000) %}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx{% endfor %}{% endfor %}")
                .find("exceeds"),
            std::string::npos);
}

TEST(ChatTemplateJinja, UnreadableTemplateOfAKnownFamilyFallsBackToBuiltIn) {
  // A ChatML template using a construct we lack still renders, through the built-in ChatML path.
  const ChatTemplate tpl("{% macro m() %}{% endmacro %}{% for m in messages %}<|im_start|>{% endfor %}", "x.gguf");
  EXPECT_FALSE(tpl.is_jinja());
  EXPECT_EQ(tpl.render({{"user", "hi"}}, ChatOptions{true}), "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplateJinja, MutatedRealTemplatesNeverCrash) {
  // Truncations and random byte edits of every real template: each either renders or throws
  // frugal::Error (a crash or another exception type fails the test, and ASan builds check memory).
  std::mt19937 rng(1234);
  const std::string bytes = "{}%#-+()[]'\"|.,:=~ \n\\ab0";
  int outcomes = 0;
  for (const std::string& path : fixture_files()) {
    const nlohmann::json fx = read_json(path);
    const std::string source = fx["template"];
    const std::vector<ChatMessage> messages = messages_of(fx["cases"][4]["messages"]);
    std::vector<std::string> variants;
    for (size_t cut = 0; cut < source.size(); cut += 1 + source.size() / 40) variants.push_back(source.substr(0, cut));
    for (int i = 0; i < 60; ++i) {
      std::string s = source;
      for (int edits = 0; edits < 3; ++edits)
        s[rng() % s.size()] = bytes[rng() % bytes.size()];
      variants.push_back(s);
    }
    for (const std::string& v : variants) {
      try {
        ChatTemplate t(v, "mutated.gguf");
        ChatOptions o;
        o.add_generation_prompt = true;
        o.bos_token = "<s>";
        t.render(messages, o);
      } catch (const Error&) {
      }
      ++outcomes;
    }
  }
  EXPECT_GT(outcomes, 500);
}

}  // namespace
}  // namespace frugal
