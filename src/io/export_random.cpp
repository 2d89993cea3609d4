#include "io/export_random.h"

#include "io/gguf_lora.h"
#include "io/gguf_rope.h"
#include "format/gguf_writer.h"
#include "io/tensor_names.h"

namespace frugal {

std::vector<std::string> write_random_gguf(const std::string& path, const LlamaConfig& c, const Vocab* vocab,
                                           const std::string& name, ExportDtype dtype, const RandomInit& init) {
  c.validate(path);
  std::vector<std::string> notes;
  GgufWriter w;
  set_gguf_model_metadata(w, c, name, dtype);
  if (vocab) set_gguf_tokenizer_metadata(w, *vocab, c.vocab_size, notes);
  add_gguf_rope_tensors(w, c.rope_scaling, c.rope_theta, c.head_dim);

  const bool permute = gguf_permutes_rotary_rows(c.architecture);
  for (const WeightSlot& s : weight_layout(c)) {
    const std::string tensor = gguf_tensor_name(s.role, s.layer);
    const bool vector = s.cols == 1;
    std::vector<int64_t> shape = vector ? std::vector<int64_t>{s.rows} : std::vector<int64_t>{s.rows, s.cols};
    GgmlType type = vector ? GgmlType::F32 : export_ggml_type(dtype);
    if (type == GgmlType::Q8_0 && s.cols % 32 != 0) {
      type = GgmlType::F16;
      notes.push_back(tensor + ": row length " + std::to_string(s.cols) + " is not a multiple of 32, written as F16");
    }
    GgufWriter::RowFiller fill;
    if (vector) {
      // The file's one row is the whole vector (norms 1, biases 0: no order to permute).
      fill = [s, init](int64_t, int64_t, float* out) { fill_random_weight(s, init, 0, s.rows, out); };
    } else if (permute && is_rotary_projection(s.role)) {
      const int64_t heads = s.role == WeightRole::Wq || s.role == WeightRole::Bq ? c.n_heads : c.n_kv_heads;
      // Every value is a function of its HF position, so each file row is drawn from its HF row.
      fill = [s, init, heads](int64_t first, int64_t n, float* out) {
        for (int64_t r = 0; r < n; ++r)
          fill_random_weight(s, init, hf_row_of_meta_row(first + r, s.rows, heads), 1, out + r * s.cols);
      };
    } else {
      fill = [s, init](int64_t first, int64_t n, float* out) { fill_random_weight(s, init, first, n, out); };
    }
    w.add_generated_tensor(tensor, std::move(shape), type, std::move(fill));
  }
  w.write(path);
  return notes;
}

}  // namespace frugal
