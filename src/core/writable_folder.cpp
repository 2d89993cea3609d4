#include "core/writable_folder.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace frugal {

void ensure_writable_folder(const std::string& dir, const std::string& key) {
  namespace fs = std::filesystem;
  if (dir.empty()) fail(key, "", "no folder given");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail(dir, key, "cannot create the folder: " + ec.message());
  if (!fs::is_directory(dir, ec)) fail(dir, key, "exists and is not a folder");
  // access(W_OK) is not enough: root passes it on folders it still cannot write (read-only mounts
  // pass it too on some filesystems), and it says nothing about free space. An unnamed file
  // (O_TMPFILE) cannot be left behind by a crash; filesystems without it get a named one.
  std::string probe;
  int fd = ::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
    probe = dir + "/.frugal-write-test-" + std::to_string(::getpid());
    fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  }
  if (fd < 0) fail(dir, key, std::string("cannot write into the folder: ") + std::strerror(errno));
  const char byte = '\n';
  const bool wrote = ::write(fd, &byte, 1) == 1 && ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!probe.empty()) ::unlink(probe.c_str());
  if (!wrote) fail(dir, key, std::string("cannot write into the folder: ") + std::strerror(err));
}

}  // namespace frugal
