// Builds small GGUF files byte by byte, so tests can make valid files and break them on purpose.
#pragma once
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace frugal::test {

struct GgufBuilder {
  std::vector<uint8_t> bytes;
  uint32_t alignment = 32;

  template <typename T>
  void put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    bytes.insert(bytes.end(), p, p + sizeof(T));
  }
  void put_string(const std::string& s) {
    put<uint64_t>(s.size());
    bytes.insert(bytes.end(), s.begin(), s.end());
  }
  void header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    bytes.insert(bytes.end(), {'G', 'G', 'U', 'F'});
    put<uint32_t>(version);
    put<uint64_t>(n_tensors);
    put<uint64_t>(n_kv);
  }
  void kv_u32(const std::string& key, uint32_t v) { put_string(key); put<uint32_t>(4); put<uint32_t>(v); }
  void kv_f32(const std::string& key, float v) { put_string(key); put<uint32_t>(6); put<float>(v); }
  void kv_string(const std::string& key, const std::string& v) { put_string(key); put<uint32_t>(8); put_string(v); }
  void tensor_info(const std::string& name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
    put_string(name);
    put<uint32_t>(static_cast<uint32_t>(ne.size()));
    for (uint64_t d : ne) put<uint64_t>(d);
    put<uint32_t>(type);
    put<uint64_t>(offset);
  }
  void pad() {
    while (bytes.size() % alignment) bytes.push_back(0);
  }
  void f32_data(const std::vector<float>& v) {
    for (float f : v) put<float>(f);
    pad();
  }
  void save(const std::string& path) const {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
};

inline std::string temp_path(const std::string& name) {
  return std::string(::testing::TempDir()) + "frugal_" + name;
}

}  // namespace frugal::test
