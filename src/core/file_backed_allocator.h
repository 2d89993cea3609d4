// Storage the kernel may page out to a file rather than keep resident: large arrays swept once per step
// (paged optimizer state, transformers' `paged_adamw_*`). Each allocation is an unlinked temporary file
// in a chosen folder, mapped shared, with sequential-access advice; after a sweep, advise_cold marks the
// pages as the first to reclaim. Under memory pressure they go to that file instead of swap (or instead
// of the process being killed), and come back as the next sweep reads them, in order.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <type_traits>

namespace frugal {

// A zero-filled mapping of `bytes` backed by an unlinked file in `dir`; throws frugal::Error naming dir.
void* file_backed_alloc(size_t bytes, const std::string& dir);
void file_backed_free(void* p, size_t bytes);
// The range was just swept and will not be needed until the next sweep (MADV_COLD where available).
void advise_cold(const void* p, size_t bytes);

// A std::vector allocator: on the heap when `dir` is empty, else file-backed in `dir`.
template <class T>
struct FileBackedAllocator {
  using value_type = T;
  using propagate_on_container_copy_assignment = std::true_type;
  using propagate_on_container_move_assignment = std::true_type;
  using propagate_on_container_swap = std::true_type;
  std::string dir;

  FileBackedAllocator() = default;
  explicit FileBackedAllocator(std::string folder) : dir(std::move(folder)) {}
  template <class U>
  FileBackedAllocator(const FileBackedAllocator<U>& o) : dir(o.dir) {}

  T* allocate(size_t n) {
    if (dir.empty()) return std::allocator<T>().allocate(n);
    return static_cast<T*>(file_backed_alloc(n * sizeof(T), dir));
  }
  void deallocate(T* p, size_t n) {
    if (dir.empty())
      std::allocator<T>().deallocate(p, n);
    else
      file_backed_free(p, n * sizeof(T));
  }
  template <class U>
  bool operator==(const FileBackedAllocator<U>& o) const {
    return dir == o.dir;
  }
};

}  // namespace frugal
