// Files that are either completely written or not there: data goes to `path.tmp-<pid>`, is fsynced,
// then renamed over `path`, and the folder is synced so the rename itself survives a crash. Every
// writer of models, adapters, checkpoints and reports goes through here.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace frugal {

// Streams a file into place; if commit() is never reached (an error, an exception) the temporary
// file is removed and `path` is untouched.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(const std::string& path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void write(const void* data, size_t n);
  uint64_t written() const { return written_; }
  void commit();  // fsync, close, rename, sync the folder

 private:
  std::string path_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
  uint64_t written_ = 0;
};

void write_file_atomically(const std::string& path, std::string_view content);
// Write + fsync in place (for files inside a folder that is itself renamed into place later).
void write_file_durable(const std::string& path, std::string_view content);
// Persists renames and new entries in `dir`; filesystems that cannot sync folders are tolerated.
void fsync_dir(const std::string& dir);

// Whether process `pid` exists (a writer whose temporaries must be left alone).
bool process_alive(long pid);
// Removes the `<name>.tmp-<pid>` files of `dir` (not its subfolders) whose writer is dead: what a
// killed process left in the middle of write_file_atomically. A missing folder is fine.
void remove_dead_writers_temporaries(const std::string& dir);

}  // namespace frugal
