// Whole-model export. GGUF: stories260K written and reloaded gives the same weights bit for bit
// (so the Q/K permutation round-trips), and the file's Q/K equal llama2.c's own Meta-order arrays.
// HF: the folder matches the one transformers wrote for the same model (tests/fixtures/stories260k_hf,
// tensors byte for byte, tokenizer merges as transformers converts tok512), and reloads identically.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/half.h"
#include "io/export_model.h"
#include "format/gguf.h"
#include "format/safetensors.h"
#include "io/tensor_names.h"
#include "model/model.h"
#include "test_paths.h"

namespace frugal {
namespace {

namespace fs = std::filesystem;

std::string temp(const std::string& name) { return std::string(::testing::TempDir()) + "frugal_export_" + name; }

std::unique_ptr<Model> stories() {
  return load_model(test::data_file("stories260K/stories260K.bin"), test::data_file("stories260K/tok512.bin"));
}

const std::vector<std::string>& texts() {
  static const std::vector<std::string> t = {
      "Once upon a time, there was a little girl named Lily.",
      "  two spaces\nand a newline\n\n",
      "caf\xC3\xA9 \xF0\x9F\xA6\x99 \xE4\xBD\xA0\xE5\xA5\xBD 3.14159",
      "",
      "She said, \"I'm sorry.\" The end",
  };
  return t;
}

nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(test::read_file(path)); }

// Every weight of `b` equals `round(every weight of a)`.
template <typename Round>
void expect_weights(const Model& a, Model& b, Round round, const std::string& what) {
  ASSERT_EQ(a.config.dim, b.config.dim);
  ASSERT_EQ(a.config.n_layers, b.config.n_layers);
  const auto sa = weight_slots(a.config, const_cast<LlamaWeights&>(a.weights));
  const auto sb = weight_slots(b.config, b.weights);
  ASSERT_EQ(sa.size(), sb.size()) << what;
  for (size_t i = 0; i < sa.size(); ++i) {
    ASSERT_EQ(sa[i].role, sb[i].role);
    const int64_t n = sa[i].rows * sa[i].cols;
    ASSERT_EQ(n, sb[i].rows * sb[i].cols);
    size_t bad = 0;
    for (int64_t k = 0; k < n; ++k) {
      const float want = round(sa[i].role, sa[i].data[k]);
      bad += std::memcmp(&want, &sb[i].data[k], 4) != 0;
    }
    EXPECT_EQ(bad, 0u) << what << ": " << hf_tensor_name(sa[i].role, sa[i].layer);
  }
}

float same(WeightRole, float x) { return x; }

void expect_same_config(const LlamaConfig& a, const LlamaConfig& b) {
  EXPECT_EQ(a.architecture, b.architecture);
  EXPECT_EQ(a.dim, b.dim);
  EXPECT_EQ(a.n_layers, b.n_layers);
  EXPECT_EQ(a.n_heads, b.n_heads);
  EXPECT_EQ(a.n_kv_heads, b.n_kv_heads);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.ffn_dim, b.ffn_dim);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.context_length, b.context_length);
  EXPECT_EQ(a.rms_eps, b.rms_eps);
  EXPECT_EQ(a.rope_theta, b.rope_theta);
  EXPECT_EQ(a.tied_output, b.tied_output);
}

void expect_same_encoding(const Tokenizer& a, const Tokenizer& b, const std::string& what) {
  for (const std::string& t : texts()) {
    EXPECT_EQ(a.encode(t, true, false), b.encode(t, true, false)) << what << ": '" << t << "'";
    EXPECT_EQ(a.encode(t, false, false), b.encode(t, false, false)) << what << ": '" << t << "'";
  }
}

// ---- GGUF ----

TEST(ExportGguf, F32RoundTripsBitExactly) {
  auto src = stories();
  const std::string path = temp("stories_f32.gguf");
  EXPECT_TRUE(export_gguf(*src, path, ExportDtype::F32).empty());
  auto back = load_model(path);
  EXPECT_EQ(back->format, ModelFormat::Gguf);
  expect_same_config(src->config, back->config);
  expect_weights(*src, *back, same, "f32 gguf");
  const Vocab &va = src->tokenizer->vocab(), &vb = back->tokenizer->vocab();
  EXPECT_EQ(va.tokens, vb.tokens);
  EXPECT_EQ(va.scores, vb.scores);
  EXPECT_EQ(va.token_types, vb.token_types);
  EXPECT_EQ(vb.bos_id, 1);
  EXPECT_EQ(vb.eos_id, 2);
  expect_same_encoding(*src->tokenizer, *back->tokenizer, "f32 gguf");

  GgufFile g(path);
  EXPECT_EQ(g.get_string("general.architecture"), "llama");
  EXPECT_EQ(g.get_int("general.file_type"), 0);
  EXPECT_EQ(g.get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(g.get_int("llama.rope.dimension_count"), 8);
  EXPECT_EQ(g.tensors().size(), 2u + 9u * 5u);  // token_embd, output_norm (tied), 9 per block
  EXPECT_EQ(g.find_tensor("blk.0.attn_q.weight")->ne, (std::vector<int64_t>{64, 64}));
  EXPECT_EQ(g.find_tensor("blk.0.attn_k.weight")->ne, (std::vector<int64_t>{64, 32}));
  EXPECT_EQ(g.find_tensor("blk.0.ffn_down.weight")->ne, (std::vector<int64_t>{172, 64}));
}

// GGUF llama keeps Q/K in Meta's order, which is llama2.c's: the exported tensors must equal the
// arrays in stories260K.bin, which our export only reaches by permuting HF order correctly.
TEST(ExportGguf, QkRowsAreInLlama2cOrder) {
  auto src = stories();
  const std::string path = temp("stories_meta.gguf");
  export_gguf(*src, path, ExportDtype::F32);
  GgufFile g(path);

  std::ifstream in(test::data_file("stories260K/stories260K.bin"), std::ios::binary);
  int32_t header[7];
  in.read(reinterpret_cast<char*>(header), sizeof header);
  const int64_t C = header[0], L = header[2], V = header[5], KV = C * header[4] / header[3];
  std::vector<float> file(static_cast<size_t>(fs::file_size(test::data_file("stories260K/stories260K.bin")) - 28) / 4);
  in.read(reinterpret_cast<char*>(file.data()), static_cast<std::streamsize>(file.size() * 4));
  const float* wq = file.data() + V * C + L * C;  // after token_embedding and rms_att
  const float* wk = wq + L * C * C;
  for (int64_t layer = 0; layer < L; ++layer) {
    const GgufTensorInfo* q = g.find_tensor("blk." + std::to_string(layer) + ".attn_q.weight");
    const GgufTensorInfo* k = g.find_tensor("blk." + std::to_string(layer) + ".attn_k.weight");
    EXPECT_EQ(std::memcmp(q->data, wq + layer * C * C, C * C * 4), 0) << "layer " << layer;
    EXPECT_EQ(std::memcmp(k->data, wk + layer * KV * C, KV * C * 4), 0) << "layer " << layer;
  }
}

TEST(ExportGguf, HalfTypesRoundOnce) {
  auto src = stories();
  for (ExportDtype d : {ExportDtype::F16, ExportDtype::BF16}) {
    const std::string path = temp("stories_" + export_dtype_name(d) + ".gguf");
    EXPECT_TRUE(export_gguf(*src, path, d).empty());
    auto back = load_model(path);
    // 2-D weights carry exactly one rounding to the 16-bit type; norms stay F32.
    expect_weights(*src, *back, [d](WeightRole role, float x) {
      if (role == WeightRole::AttnNorm || role == WeightRole::FfnNorm || role == WeightRole::OutputNorm) return x;
      return d == ExportDtype::F16 ? fp16_to_float(float_to_fp16(x)) : bf16_to_float(float_to_bf16(x));
    }, export_dtype_name(d));
    EXPECT_EQ(GgufFile(path).get_int("general.file_type"), d == ExportDtype::F16 ? 1 : 32);
  }
}

TEST(ExportGguf, Q8FallsBackWhereRowsDoNotFitBlocks) {
  auto src = stories();
  const std::string path = temp("stories_q8.gguf");
  const std::vector<std::string> notes = export_gguf(*src, path, ExportDtype::Q8_0);
  ASSERT_EQ(notes.size(), 5u);  // ffn_down rows are 172 long in each of the 5 blocks
  EXPECT_NE(notes[0].find("blk.0.ffn_down.weight"), std::string::npos) << notes[0];
  GgufFile g(path);
  EXPECT_EQ(g.get_int("general.file_type"), 7);
  EXPECT_EQ(g.get_int("general.quantization_version"), 2);
  EXPECT_EQ(g.find_tensor("blk.0.attn_q.weight")->type, GgmlType::Q8_0);
  EXPECT_EQ(g.find_tensor("token_embd.weight")->type, GgmlType::Q8_0);
  EXPECT_EQ(g.find_tensor("blk.3.ffn_down.weight")->type, GgmlType::F16);
  EXPECT_EQ(g.find_tensor("blk.3.ffn_norm.weight")->type, GgmlType::F32);

  auto back = load_model(path);
  // Q8_0 rows: exactly quantize -> dequantize of the (Meta-order) row, permuted back.
  const LayerWeights &a = src->weights.layers[1], &b = back->weights.layers[1];
  std::vector<uint8_t> block(34 * 2);
  std::vector<float> row(64);
  for (int64_t r = 0; r < a.up.rows; ++r) {
    quantize_row_q8_0(a.up.data.data() + r * 64, block.data(), 64);
    dequantize_row_ref(GgmlType::Q8_0, block.data(), row.data(), 64);
    ASSERT_EQ(std::memcmp(row.data(), b.up.data.data() + r * 64, 64 * 4), 0) << "up row " << r;
  }
  double max_err = 0;
  for (size_t i = 0; i < a.wq.data.size(); ++i) max_err = std::max<double>(max_err, std::abs(a.wq.data[i] - b.wq.data[i]));
  EXPECT_LT(max_err, 0.01);
  for (size_t i = 0; i < a.down.data.size(); ++i)
    ASSERT_EQ(b.down.data[i], fp16_to_float(float_to_fp16(a.down.data[i]))) << i;
}

// An embedding with more rows than the tokenizer has tokens (common in HF models) gets unused
// padding tokens, since llama.cpp needs one token per row.
TEST(ExportGguf, PadsTheVocabularyToTheEmbedding) {
  auto src = stories();
  src->config.vocab_size = 520;
  src->weights.token_embedding.data.resize(520 * 64, 0.25f);
  src->weights.token_embedding.rows = 520;
  const std::string path = temp("stories_padded.gguf");
  const std::vector<std::string> notes = export_gguf(*src, path, ExportDtype::F32);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("8 unused"), std::string::npos) << notes[0];
  auto back = load_model(path);
  EXPECT_EQ(back->config.vocab_size, 520);
  const Vocab& v = back->tokenizer->vocab();
  ASSERT_EQ(v.tokens.size(), 520u);
  EXPECT_EQ(v.tokens[519], "[PAD519]");
  EXPECT_EQ(v.token_types[519], static_cast<int32_t>(TokenType::Unused));
  expect_same_encoding(*src->tokenizer, *back->tokenizer, "padded");
  expect_weights(*src, *back, same, "padded");
}

// ---- Hugging Face ----

TEST(ExportHf, MatchesTheFolderTransformersWrote) {
  auto src = stories();
  const std::string dir = temp("stories_hf_f32");
  fs::remove_all(dir);
  export_hf(*src, dir, ExportDtype::F32);

  // Tensors: byte-identical to transformers' save_pretrained of the same model (fp32, sharded).
  SafetensorsFile ours(dir + "/model.safetensors");
  EXPECT_EQ(ours.metadata().at("format"), "pt");
  const std::string fixture = test::fixture("stories260k_hf/f32_sharded");
  size_t compared = 0;
  for (const auto& shard : fs::directory_iterator(fixture)) {
    if (shard.path().extension() != ".safetensors") continue;
    SafetensorsFile theirs(shard.path().string());
    for (const SafetensorsTensor& t : theirs.tensors()) {
      if (t.name == "lm_head.weight") continue;  // tied: transformers may list it, we do not
      const SafetensorsTensor* o = ours.find(t.name);
      ASSERT_NE(o, nullptr) << t.name;
      EXPECT_EQ(o->dtype, t.dtype) << t.name;
      EXPECT_EQ(o->shape, t.shape) << t.name;
      EXPECT_TRUE(o->nbytes == t.nbytes && std::memcmp(o->data, t.data, t.nbytes) == 0) << t.name;
      ++compared;
    }
  }
  EXPECT_EQ(compared, ours.tensors().size());

  const nlohmann::json ours_cfg = read_json(dir + "/config.json"), theirs_cfg = read_json(fixture + "/config.json");
  for (const char* key : {"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                          "num_key_value_heads", "head_dim", "vocab_size", "max_position_embeddings", "rms_norm_eps",
                          "tie_word_embeddings", "bos_token_id", "eos_token_id", "model_type", "architectures"})
    EXPECT_EQ(ours_cfg[key], theirs_cfg[key]) << key;
  EXPECT_EQ(ours_cfg["rope_theta"], theirs_cfg["rope_parameters"]["rope_theta"]);

  // Tokenizer: transformers converted tok512.model to the same vocabulary and merges.
  const nlohmann::json ours_tok = read_json(dir + "/tokenizer.json"), theirs_tok = read_json(fixture + "/tokenizer.json");
  EXPECT_EQ(ours_tok["model"]["vocab"], theirs_tok["model"]["vocab"]);
  std::vector<std::string> theirs_merges;
  for (const auto& m : theirs_tok["model"]["merges"]) theirs_merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
  EXPECT_EQ(ours_tok["model"]["merges"].get<std::vector<std::string>>(), theirs_merges);
  EXPECT_EQ(ours_tok["added_tokens"], theirs_tok["added_tokens"]);
  EXPECT_EQ(ours_tok["decoder"], theirs_tok["decoder"]);

  auto back = load_model(dir);
  expect_same_config(src->config, back->config);
  expect_weights(*src, *back, same, "hf f32");
  expect_same_encoding(*src->tokenizer, *back->tokenizer, "hf f32");
  EXPECT_FALSE(fs::exists(dir + "/model.safetensors.tmp"));
  EXPECT_FALSE(fs::exists(dir + "/config.json.tmp"));
}

TEST(ExportHf, Bf16MatchesTransformersRounding) {
  auto src = stories();
  const std::string dir = temp("stories_hf_bf16");
  fs::remove_all(dir);
  export_hf(*src, dir, ExportDtype::BF16);
  SafetensorsFile ours(dir + "/model.safetensors");
  SafetensorsFile theirs(test::fixture("stories260k_hf/bf16/model.safetensors"));
  for (const SafetensorsTensor& o : ours.tensors()) {
    const SafetensorsTensor& t = theirs.get(o.name);
    EXPECT_EQ(o.dtype, SafeDtype::BF16);
    EXPECT_TRUE(o.nbytes == t.nbytes && std::memcmp(o.data, t.data, t.nbytes) == 0) << o.name;
  }
  EXPECT_EQ(read_json(dir + "/config.json")["torch_dtype"], "bfloat16");
  auto back = load_model(dir);
  expect_weights(*src, *back, [](WeightRole, float x) { return bf16_to_float(float_to_bf16(x)); }, "hf bf16");
  EXPECT_THROW(export_hf(*src, temp("stories_hf_q8"), ExportDtype::Q8_0), Error);
}

TEST(ExportHf, CopiesTheTokenizerOfAnHfSource) {
  const std::string fixture = test::fixture("stories260k_hf/f32_sharded");
  auto src = load_model(fixture);
  const std::string dir = temp("hf_to_hf");
  fs::remove_all(dir);
  export_hf(*src, dir, ExportDtype::F16);
  EXPECT_EQ(test::read_file(dir + "/tokenizer.json"), test::read_file(fixture + "/tokenizer.json"));
  EXPECT_EQ(test::read_file(dir + "/tokenizer_config.json"), test::read_file(fixture + "/tokenizer_config.json"));
  auto back = load_model(dir);
  expect_weights(*src, *back, [](WeightRole, float x) { return fp16_to_float(float_to_fp16(x)); }, "hf f16");
}

// An HF vocabulary has merges and no scores; GGUF (llama.cpp) merges SentencePiece by score.
TEST(ExportGguf, HfSourceKeepsItsTokenization) {
  auto src = load_model(test::fixture("stories260k_hf/f32_sharded"));
  const std::string path = temp("hf_to_gguf.gguf");
  const std::vector<std::string> notes = export_gguf(*src, path, ExportDtype::F32);
  ASSERT_EQ(notes.size(), 1u);  // Metaspace prepend_scheme "first" cannot be said in GGUF
  auto back = load_model(path);
  expect_weights(*src, *back, same, "hf -> gguf");
  for (const std::string& t : texts()) {
    // Metaspace "first" adds no prefix to text that starts with a space; llama.cpp always does.
    if (!t.empty() && t[0] == ' ') continue;
    EXPECT_EQ(src->tokenizer->encode(t, false, false), back->tokenizer->encode(t, false, false)) << t;
  }
}

}  // namespace
}  // namespace frugal
