// Bounds-checked little-endian cursor over a mapped file. Every read names the file and offset
// on failure, so loaders never run past the end of a truncated file.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "core/error.h"

namespace frugal {

class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size, std::string path) : data_(data), size_(size), path_(std::move(path)) {}

  template <typename T>
  T read(const char* what) {
    static_assert(std::is_trivially_copyable_v<T>);
    need(sizeof(T), what);
    T value;
    std::memcpy(&value, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }

  const uint8_t* take(uint64_t n, const char* what) {
    need(n, what);
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }

  void need(uint64_t n, const char* what) const {
    if (n > size_ - pos_)
      fail(path_, offset_str(pos_), std::string("file ends inside ") + what + " (needs " + std::to_string(n) +
                                         " bytes, " + std::to_string(size_ - pos_) + " left)");
  }

  size_t pos() const { return pos_; }
  void seek(size_t pos) { pos_ = pos; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  std::string path_;
};

}  // namespace frugal
