// Output folders are checked before any work: a run that can only fail at its first checkpoint, an
// hour in, should fail in the first second instead.
#pragma once
#include <string>

namespace frugal {

// Creates `dir` (and its parents) if needed, then creates, writes and removes a small file in it, so
// a read-only mount, missing permissions or a full disk are found now. Fails with one line naming the
// folder and the reason (`key` is the option that named it, e.g. "output_dir").
void ensure_writable_folder(const std::string& dir, const std::string& key);

}  // namespace frugal
