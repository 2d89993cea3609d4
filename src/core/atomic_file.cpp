#include "core/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace frugal {

namespace {

std::string errno_text() { return std::strerror(errno); }

std::string parent_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

// Writes all of `n` bytes, retrying short writes and EINTR; `at` counts bytes for messages.
void write_all(int fd, const void* data, size_t n, const std::string& path, const std::string& tmp, uint64_t& at) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, std::min<size_t>(n, size_t{1} << 30));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fail(path, offset_str(at), "cannot write " + tmp + ": " + errno_text());
    p += w;
    n -= static_cast<size_t>(w);
    at += static_cast<uint64_t>(w);
  }
}

}  // namespace

void fsync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail(dir, "", "cannot open the folder to sync it: " + errno_text());
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  // Some filesystems refuse fsync on folders; nothing more can be done there.
  if (rc != 0 && err != EINVAL && err != EROFS) fail(dir, "", std::string("cannot sync the folder: ") + std::strerror(err));
}

AtomicFileWriter::AtomicFileWriter(const std::string& path)
    : path_(path), tmp_(path + ".tmp-" + std::to_string(::getpid())) {
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) fail(path_, "", "cannot create " + tmp_ + ": " + errno_text());
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_.c_str());
}

void AtomicFileWriter::write(const void* data, size_t n) {
  if (fd_ < 0) fail(path_, "", "internal: write after commit");
  write_all(fd_, data, n, path_, tmp_, written_);
}

void AtomicFileWriter::commit() {
  if (::fsync(fd_) != 0) fail(path_, "", "cannot sync " + tmp_ + ": " + errno_text());
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail(path_, "", "cannot close " + tmp_ + ": " + errno_text());
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) fail(path_, "", "cannot rename " + tmp_ + " into place: " + errno_text());
  committed_ = true;
  fsync_dir(parent_of(path_));
}

bool process_alive(long pid) { return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM; }

void remove_dead_writers_temporaries(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const size_t at = name.rfind(".tmp-");
    if (at == std::string::npos || at == 0 || !entry.is_regular_file(ec)) continue;
    const std::string pid = name.substr(at + 5);
    if (pid.empty() || pid.size() > 9 || !std::all_of(pid.begin(), pid.end(), [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    const long writer = std::stol(pid);
    if (writer != static_cast<long>(::getpid()) && process_alive(writer)) continue;
    fs::remove(entry.path(), ec);
  }
}

void write_file_atomically(const std::string& path, std::string_view content) {
  AtomicFileWriter out(path);
  out.write(content.data(), content.size());
  out.commit();
}

void write_file_durable(const std::string& path, std::string_view content) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(path, "", "cannot create: " + errno_text());
  uint64_t at = 0;
  try {
    write_all(fd, content.data(), content.size(), path, path, at);
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (::fsync(fd) != 0) {
    const std::string why = errno_text();
    ::close(fd);
    fail(path, "", "cannot sync: " + why);
  }
  if (::close(fd) != 0) fail(path, "", "cannot close: " + errno_text());
}

}  // namespace frugal
