#include "core/file_backed_allocator.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "core/error.h"

namespace frugal {

void* file_backed_alloc(size_t bytes, const std::string& dir) {
  if (bytes == 0) bytes = 1;  // mmap refuses an empty range; a vector may still ask for one element
  // O_TMPFILE: a file with no name, so nothing is left behind however the process ends.
  const int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) fail(dir, "", std::string("cannot create a file for paged optimizer state: ") + std::strerror(errno));
  if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    const int e = errno;
    ::close(fd);
    fail(dir, "", "cannot size the paged optimizer state (" + std::to_string(bytes) + " bytes): " + std::strerror(e));
  }
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  const int e = errno;
  ::close(fd);  // the mapping keeps the file
  if (p == MAP_FAILED) fail(dir, "", std::string("cannot map the paged optimizer state: ") + std::strerror(e));
  ::madvise(p, bytes, MADV_SEQUENTIAL);  // swept front to back: read ahead, drop behind
  return p;
}

void file_backed_free(void* p, size_t bytes) {
  if (p) ::munmap(p, bytes == 0 ? 1 : bytes);
}

void advise_cold(const void* p, size_t bytes) {
#if defined(MADV_COLD)
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = reinterpret_cast<uintptr_t>(p) & ~(page - 1);
  const uintptr_t end = reinterpret_cast<uintptr_t>(p) + bytes;
  if (bytes > 0) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_COLD);
#else
  (void)p, (void)bytes;
#endif
}

}  // namespace frugal
