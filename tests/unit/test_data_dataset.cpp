// Dataset files: the three record shapes in JSON and JSONL, key mapping on a real instruction set
// (GPTeacher role-play, which names its output "response"), and malformed files, each of which must
// fail with one line naming the file and the line of the problem.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "data/dataset.h"
#include "test_paths.h"

namespace frugal {
namespace {

const std::string kGpteacher = "datasets/gpteacher-roleplay/roleplay-simple-deduped-roleplay-instruct.json";

// The message of the Error that parsing `text` throws, or "" when it parses.
std::string error_of(const std::string& text, const DatasetOptions& options = {}) {
  try {
    parse_dataset(text, "data.jsonl", options);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(DataDataset, TextJsonlWithBlankLinesAndCrlf) {
  const Dataset ds =
      parse_dataset("{\"text\": \"first\"}\r\n\r\n  \n{\"text\": \"second\\nline\", \"id\": 7}\n", "t.jsonl", {});
  EXPECT_EQ(ds.format, DatasetFormat::Text);
  ASSERT_EQ(ds.records.size(), 2u);
  EXPECT_EQ(ds.records[0].text, "first");
  EXPECT_EQ(ds.records[0].line, 1);
  EXPECT_EQ(ds.records[1].text, "second\nline");
  EXPECT_EQ(ds.records[1].line, 4);
}

TEST(DataDataset, InstructionJsonArrayWithOptionalInput) {
  const std::string text =
      "\xEF\xBB\xBF[\n"
      "  {\"instruction\": \"Add\", \"input\": \"2 and 3\", \"output\": \"5\"},\n"
      "  {\"instruction\": \"Greet\", \"output\": \"Hi\"},\n"
      "  {\n    \"instruction\": \"Wait\",\n    \"input\": null,\n    \"output\": \"ok\"\n  }\n"
      "]\n";
  const Dataset ds = parse_dataset(text, "i.json", {});
  EXPECT_EQ(ds.format, DatasetFormat::Instruction);
  ASSERT_EQ(ds.records.size(), 3u);
  EXPECT_EQ(ds.records[0].instruction, "Add");
  EXPECT_EQ(ds.records[0].input, "2 and 3");
  EXPECT_EQ(ds.records[0].output, "5");
  EXPECT_EQ(ds.records[1].input, "");
  EXPECT_EQ(ds.records[2].input, "");
  EXPECT_EQ(ds.records[0].line, 2);
  EXPECT_EQ(ds.records[1].line, 3);
  EXPECT_EQ(ds.records[2].line, 4);
}

TEST(DataDataset, ChatMessages) {
  const Dataset ds = parse_dataset(
      R"({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, )"
      R"({"role": "assistant", "content": "Hello!"}]})"
      "\n",
      "c.jsonl", {});
  EXPECT_EQ(ds.format, DatasetFormat::Chat);
  ASSERT_EQ(ds.records.size(), 1u);
  const auto& m = ds.records[0].messages;
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].role, "system");
  EXPECT_EQ(m[1].content, "Hi");
  EXPECT_EQ(m[2].role, "assistant");
  EXPECT_EQ(m[2].content, "Hello!");
}

// ShareGPT ("conversations" of {"from": human|gpt|system, "value"}, axolotl's `type: sharegpt`) is
// read as the same chat records as HF's messages; other keys of a record are ignored as ever.
TEST(DataDataset, ShareGptReadsAsTheSameChat) {
  const Dataset sharegpt = load_dataset(test::fixture("datasets/sharegpt.jsonl"), {});
  const Dataset messages = load_dataset(test::fixture("datasets/messages.jsonl"), {});
  EXPECT_EQ(sharegpt.format, DatasetFormat::Chat);
  ASSERT_EQ(sharegpt.records.size(), 3u);
  ASSERT_EQ(messages.records.size(), 3u);
  for (size_t r = 0; r < 3; ++r) {
    const auto& a = sharegpt.records[r].messages;
    const auto& b = messages.records[r].messages;
    ASSERT_EQ(a.size(), b.size()) << "record " << r;
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].role, b[i].role) << "record " << r << " message " << i;
      EXPECT_EQ(a[i].content, b[i].content) << "record " << r << " message " << i;
    }
  }
  EXPECT_EQ(sharegpt.records[0].messages[1].role, "user");
  EXPECT_EQ(sharegpt.records[0].messages[2].role, "assistant");
  EXPECT_EQ(sharegpt.records[2].messages[0].content, "\xC3\x9Cn\xC3\xAF""c\xC3\xB6""d\xC3\xA9, tabs\tand \"quotes\"?");
}

TEST(DataDataset, ForcedFormatAndCustomKeys) {
  DatasetOptions o;
  o.format = DatasetFormat::Text;
  o.text_key = "body";
  // "instruction" would win auto-detection; the forced format reads "body" instead.
  const Dataset ds = parse_dataset(R"([{"instruction": "x", "body": "plain"}])", "f.json", o);
  EXPECT_EQ(ds.format, DatasetFormat::Text);
  EXPECT_EQ(ds.records[0].text, "plain");

  DatasetOptions chat;
  chat.messages_key = "conversation";
  EXPECT_EQ(parse_dataset(R"({"conversation": [{"role": "user", "content": "q"}]})", "c.jsonl", chat).format,
            DatasetFormat::Chat);
  EXPECT_EQ(parse_dataset_format("alpaca"), DatasetFormat::Instruction);
  EXPECT_THROW(parse_dataset_format("sharegpt"), Error);
}

TEST(DataDataset, GpteacherWithResponseKey) {
  DatasetOptions o;
  o.output_key = "response";
  const Dataset ds = load_dataset(test::data_file(kGpteacher), o);
  EXPECT_EQ(ds.format, DatasetFormat::Instruction);
  ASSERT_EQ(ds.records.size(), 1923u);
  const Record& first = ds.records[0];
  EXPECT_EQ(first.line, 2);
  EXPECT_TRUE(first.instruction.starts_with("Imagine you are a detective trying to solve a murder mystery"));
  EXPECT_EQ(first.input, "");
  EXPECT_TRUE(first.output.starts_with("The scene of the crime is a dimly lit study"));
  EXPECT_EQ(ds.records[3].input, "The witness claims to have seen the suspect fleeing the scene with a stolen item.");
  EXPECT_EQ(ds.records[1].line, 7);
  EXPECT_EQ(ds.records.back().line, 9612);
  EXPECT_TRUE(ds.records.back().output.starts_with("To create a potion for communicating with animals"));
  int64_t empty_inputs = 0;
  for (const Record& r : ds.records) empty_inputs += r.input.empty();
  EXPECT_EQ(empty_inputs, 1480);
}

TEST(DataDataset, GpteacherWithoutKeyMappingNamesTheMissingKey) {
  const std::string path = test::data_file(kGpteacher);
  try {
    load_dataset(path, {});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), path + ": line 2: missing key 'output'");
  }
}

TEST(DataDataset, MissingFile) {
  try {
    load_dataset("/nonexistent/data.jsonl", {});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "/nonexistent/data.jsonl: cannot open the dataset file");
  }
}

struct Broken {
  const char* name;
  std::string text;
  std::string expected;  // the error message starts with "data.jsonl: " + this
};

TEST(DataDataset, MalformedInputFailsWithTheLine) {
  const std::vector<Broken> cases = {
      {"empty", " \n\n", "line 1: the dataset file is empty"},
      {"not json", "hello\n", "line 1: expected a JSON array '[' or JSONL objects '{'"},
      {"empty array", "[ ]", "line 1: the dataset has no records"},
      {"jsonl syntax", "{\"text\": \"a\"}\n{\"text\": \"b\"}\n{\"text\": }\n", "line 3: invalid JSON"},
      {"jsonl pretty object", "{\n  \"text\": \"a\"\n}\n", "line 1: invalid JSON"},
      {"jsonl array line", "{\"text\": \"a\"}\n\n[1, 2]\n",
       "line 3: each line of a JSONL file must be one JSON object"},
      {"wrong type", "{\"text\": 5}\n", "line 1: 'text' must be a string, not number"},
      {"missing key later", "{\"text\": \"a\"}\n{\"txt\": \"b\"}\n", "line 2: missing key 'text'"},
      {"input wrong type", "{\"instruction\": \"a\", \"input\": [], \"output\": \"b\"}",
       "line 1: 'input' must be a string, not array"},
      {"unknown shape", "{\"prompt\": \"a\", \"completion\": \"b\"}",
       "line 1: cannot tell the dataset format from the keys {completion, prompt}"},
      {"bad role",
       "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}]}\n{\"messages\": [{\"role\": \"bot\", \"content\": "
       "\"b\"}]}",
       "line 2: messages[0]: unknown role 'bot' (expected system, user or assistant)"},
      {"messages not array", "{\"messages\": \"hi\"}", "line 1: 'messages' must be an array of messages, not string"},
      {"messages empty", "{\"messages\": []}", "line 1: 'messages' is empty"},
      {"message no content", "{\"messages\": [{\"role\": \"user\"}]}", "line 1: messages[0]: missing key 'content'"},
      {"content not string", "{\"messages\": [{\"role\": \"user\", \"content\": null}]}",
       "line 1: messages[0].content must be a string, not null"},
      {"message not object", "{\"messages\": [\"hi\"]}", "line 1: messages[0] must be an object"},
      {"sharegpt unknown speaker", "{\"conversations\": [{\"from\": \"human\", \"value\": \"a\"}, {\"from\": \"bot\", "
       "\"value\": \"b\"}]}",
       "line 1: conversations[1]: unknown from 'bot' (expected system, human or gpt)"},
      {"sharegpt value not string", "{\"conversations\": [{\"from\": \"human\", \"value\": 3}]}",
       "line 1: conversations[0].value must be a string, not number"},
      {"sharegpt empty", "{\"conversations\": []}", "line 1: 'conversations' is empty"},
      {"array element syntax", "[\n  {\"text\": \"a\"},\n  {\n    \"text\": \"b\",,\n  }\n]", "line 4: invalid JSON"},
      {"array element not object", "[\n  {\"text\": \"a\"},\n  3\n]",
       "line 3: each element of the JSON array must be an object"},
      {"array missing comma", "[\n  {\"text\": \"a\"}\n  {\"text\": \"b\"}\n]",
       "line 3: expected ',' or ']' after an array element"},
      {"array unclosed object", "[\n  {\"text\": \"a\"},\n  {\"text\": \"b\"\n", "line 3: this object is not closed"},
      {"array unclosed", "[\n  {\"text\": \"a\"},\n", "line 3: the JSON array is not closed with ']'"},
      {"text after array", "[{\"text\": \"a\"}]\n\nmore", "line 3: unexpected text after the JSON array"},
      {"bad utf-8", "{\"text\": \"ok\"}\n{\"text\": \"\xC3\x28\"}\n", "line 2: invalid JSON"},
      // Found by fuzz_dataset: nlohmann throws out_of_range (not parse_error) for it, which escaped.
      {"number out of range", "{\"text\": \"ok\"}\n{\"text\": \"b\", \"n\": 5e5555}\n",
       "line 2: invalid JSON: number overflow parsing '5e5555'"},
      {"array number out of range", "[\n  {\"text\": \"a\"},\n  {\"text\": -1e400}\n]", "line 3: invalid JSON"},
  };
  for (const Broken& c : cases) {
    const std::string msg = error_of(c.text);
    EXPECT_TRUE(msg.starts_with("data.jsonl: " + c.expected)) << c.name << ": got '" << msg << "'";
    EXPECT_EQ(msg.find('\n'), std::string::npos) << c.name << ": not one line: " << msg;
  }
}

TEST(DataDataset, ForcedFormatChecksEveryRecord) {
  DatasetOptions o;
  o.format = DatasetFormat::Chat;
  EXPECT_TRUE(error_of("{\"text\": \"a\"}", o).starts_with("data.jsonl: line 1: missing key 'messages'"));
}

TEST(DataDataset, LoadsJsonlFileNamedJson) {
  const auto path =
      std::filesystem::temp_directory_path() / ("frugal_data_test_" + std::to_string(::getpid()) + ".json");
  {
    std::ofstream out(path);
    out << "{\"text\": \"one\"}\n{\"text\": \"two\"}\n";
  }
  const Dataset ds = load_dataset(path.string(), {});
  std::filesystem::remove(path);
  ASSERT_EQ(ds.records.size(), 2u);
  EXPECT_EQ(ds.records[1].text, "two");
  EXPECT_EQ(ds.path, path.string());
}

}  // namespace
}  // namespace frugal
