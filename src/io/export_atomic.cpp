#include "io/export_atomic.h"

#include <unistd.h>

#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/writable_folder.h"

namespace fs = std::filesystem;

namespace frugal {

ExportFormat parse_export_format(const std::string& name, const std::string& out) {
  if (name == "gguf") return ExportFormat::Gguf;
  if (name == "hf") return ExportFormat::HfFolder;
  if (name == "auto")
    return out.size() > 5 && out.compare(out.size() - 5, 5, ".gguf") == 0 ? ExportFormat::Gguf : ExportFormat::HfFolder;
  fail("--format", name, "must be gguf, hf or auto");
}

namespace {
std::string parent_of(const std::string& out) {
  const fs::path p = fs::absolute(fs::path(out)).lexically_normal();
  return (p.has_filename() ? p : p.parent_path()).parent_path().string();
}
}  // namespace

void check_export_destination(const std::string& out, ExportFormat format) {
  if (out.empty()) fail("-o", "", "no output given");
  std::error_code ec;
  const bool exists = fs::exists(out, ec);
  if (format == ExportFormat::Gguf) {
    if (exists && fs::is_directory(out, ec)) fail(out, "", "is a folder; a GGUF output is a file");
  } else if (exists) {
    if (!fs::is_directory(out, ec)) fail(out, "", "exists and is not a folder; a Hugging Face output is a folder");
    if (!fs::is_empty(out, ec) && !fs::exists(fs::path(out) / "config.json", ec))
      fail(out, "", "is a folder that is neither empty nor a model (no config.json); not replacing it");
  }
  ensure_writable_folder(parent_of(out), "-o");
}

std::vector<std::string> export_model_atomically(const Model& model, const std::string& out, ExportFormat format,
                                                 ExportDtype dtype) {
  if (format == ExportFormat::Gguf) return export_gguf(model, out, dtype);
  const fs::path dest = fs::absolute(fs::path(out)).lexically_normal();
  const fs::path tmp = dest.string() + ".tmp-" + std::to_string(getpid());
  const fs::path old = dest.string() + ".old-" + std::to_string(getpid());
  std::error_code ec;
  fs::remove_all(tmp, ec);
  std::vector<std::string> notes;
  try {
    notes = export_hf(model, tmp.string(), dtype);
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  const bool replacing = fs::exists(dest, ec);
  if (replacing) {
    fs::rename(dest, old, ec);
    if (ec) {
      fs::remove_all(tmp, ec);
      fail(out, "", "cannot move the existing folder aside: " + ec.message());
    }
  }
  fs::rename(tmp, dest, ec);
  if (ec) {
    const std::string why = ec.message();
    if (replacing) fs::rename(old, dest, ec);
    fs::remove_all(tmp, ec);
    fail(out, "", "cannot rename the written folder into place: " + why);
  }
  fsync_dir(dest.parent_path().string());
  if (replacing) fs::remove_all(old, ec);
  return notes;
}

}  // namespace frugal
