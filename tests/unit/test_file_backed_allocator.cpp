// File-backed storage for paged optimizer state: a vector on it lives in a mapping of an unnamed file in
// the chosen folder (as /proc/self/maps shows), holds what is written, and leaves no file behind.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/file_backed_allocator.h"

namespace frugal {
namespace {

// The /proc/self/maps line of the mapping holding address p.
std::string mapping_of(const void* p) {
  std::ifstream maps("/proc/self/maps");
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  for (std::string line; std::getline(maps, line);) {
    uintptr_t lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx", &lo, &hi) == 2 && a >= lo && a < hi) return line;
  }
  return "";
}

TEST(FileBackedAllocator, VectorLivesInAnUnnamedFileOfTheFolder) {
  const std::string dir = std::string(::testing::TempDir()) + "frugal_paged_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  {
    std::vector<float, FileBackedAllocator<float>> v{FileBackedAllocator<float>(dir)};
    v.assign(1 << 20, 0.0f);
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
    const std::string line = mapping_of(v.data());
    EXPECT_NE(line.find(dir), std::string::npos) << line;   // backed by a file in `dir`
    EXPECT_NE(line.find("(deleted)"), std::string::npos) << line;  // with no name left
    advise_cold(v.data(), v.size() * sizeof(float));
    EXPECT_EQ(v[12345], 12345.0f);
    std::vector<float, FileBackedAllocator<float>> heap;  // no folder: the ordinary heap
    heap.assign(1000, 1.0f);
    EXPECT_EQ(mapping_of(heap.data()).find(dir), std::string::npos);
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir));
  std::filesystem::remove_all(dir);
}

TEST(FileBackedAllocator, MissingFolderIsAOneLineError) {
  EXPECT_THROW(file_backed_alloc(4096, "/nonexistent/frugal"), Error);
}

}  // namespace
}  // namespace frugal
