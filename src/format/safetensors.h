// safetensors files (Hugging Face): a u64 header length, a JSON header, then one byte buffer that the
// tensors tile exactly. The reader maps the file and checks every offset before handing out pointers;
// the writer produces the same layout as the reference library (see shared/reference/ECOSYSTEM.md §3d).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace frugal {

class MappedFile;
class AtomicFileWriter;

// Byte-sized safetensors dtypes, declared in the reference library's order: its writer sorts tensors
// by this order (descending), so the enum value is also the layout rank. Sub-byte F4 / F6 are not read.
enum class SafeDtype : uint8_t {
  BOOL,
  U8,
  I8,
  F8_E5M2,
  F8_E4M3,
  F8_E8M0,
  F8_E4M3FNUZ,
  F8_E5M2FNUZ,
  I16,
  U16,
  F16,
  BF16,
  I32,
  U32,
  F32,
  C64,
  F64,
  I64,
  U64,
};

size_t safe_dtype_size(SafeDtype dtype);       // bytes per element
const char* safe_dtype_name(SafeDtype dtype);  // "BF16", as spelled in the header
std::optional<SafeDtype> safe_dtype_from_name(std::string_view name);

struct SafetensorsTensor {
  std::string name;
  SafeDtype dtype;
  std::vector<int64_t> shape;  // empty for a 0-rank (scalar) tensor
  const uint8_t* data;         // inside the mapping, valid while the SafetensorsFile lives; not aligned
  uint64_t nbytes;
  uint64_t file_offset;  // where `data` starts in the file, for messages
  std::string file;      // the file's path, for messages
  int64_t numel() const;
};

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);  // maps and validates; throws frugal::Error
  ~SafetensorsFile();
  SafetensorsFile(SafetensorsFile&&) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept;

  const std::string& path() const { return path_; }
  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }        // in data-offset order
  const SafetensorsTensor* find(std::string_view name) const;                       // nullptr when absent
  const SafetensorsTensor& get(std::string_view name) const;                        // throws when absent
  const std::map<std::string, std::string>& metadata() const { return metadata_; }  // "__metadata__"

 private:
  std::string path_;
  std::unique_ptr<MappedFile> file_;
  std::vector<SafetensorsTensor> tensors_;
  std::map<std::string, size_t, std::less<>> index_;  // name -> position in tensors_
  std::map<std::string, std::string> metadata_;
};

// F32 / F16 / BF16 tensor -> fp32; any other dtype throws naming the file and tensor.
std::vector<float> to_f32(const SafetensorsTensor& tensor);
void to_f32(const SafetensorsTensor& tensor, float* out);  // out holds numel() floats

struct SafetensorsWriteTensor {
  std::string name;
  SafeDtype dtype;
  std::vector<int64_t> shape;
  std::span<const uint8_t> bytes;  // little-endian, C order; numel * dtype size bytes
};

// Writes like the reference library (tensors by dtype rank descending then name, header padded with
// spaces to a multiple of 8; metadata keys in sorted order, which the reference leaves unspecified),
// through `path + ".tmp"`, fsync and rename, so a crash never leaves a half-written file at `path`.
void write_safetensors(const std::string& path, const std::vector<SafetensorsWriteTensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// The same file written piece by piece, for data too large to hold whole (checkpoints gathered from
// several ranks): the header is fixed from the tensors' names, dtypes and shapes (their `bytes` are
// not read), then the data is appended in order() in pieces of any size; commit() checks that every
// announced byte came and puts the file in place. `observe`, when set, sees every byte written
// (header included), e.g. to checksum the file without reading it back.
class SafetensorsStreamWriter {
 public:
  SafetensorsStreamWriter(const std::string& path, const std::vector<SafetensorsWriteTensor>& tensors,
                          const std::map<std::string, std::string>& metadata = {},
                          std::function<void(const void*, size_t)> observe = nullptr);
  ~SafetensorsStreamWriter();
  const std::vector<std::string>& order() const { return order_; }  // tensor names in file order
  void append(std::span<const uint8_t> bytes);
  void commit();

 private:
  void put(const void* data, size_t n);
  std::string path_;
  std::function<void(const void*, size_t)> observe_;
  std::unique_ptr<AtomicFileWriter> out_;
  std::vector<std::string> order_;
  uint64_t data_bytes_ = 0, header_end_ = 0;
};

}  // namespace frugal
