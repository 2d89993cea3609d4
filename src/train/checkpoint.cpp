#include "train/checkpoint.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#if defined(__SSE4_2__)
#include <nmmintrin.h>
#endif

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/read_file.h"
#include "core/mapped_file.h"
#include "format/safetensors.h"

namespace frugal {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;  // ordered: the file reads top-down and re-serialises identically

namespace {

constexpr const char* kFormat = "frugal-checkpoint";
constexpr int kVersion = 1;
constexpr const char* kTensorsFile = "trainable.safetensors";
constexpr const char* kConfigFile = "config.yaml";
constexpr const char* kStateFile = "trainer_state.json";
constexpr const char* kLatestFile = "latest";

void (*g_stage_hook)(const char*) = nullptr;
void stage(const char* name) {
  if (g_stage_hook) g_stage_hook(name);
}

std::string errno_text() {
  return std::strerror(errno);
}

std::string parent_of(const std::string& path) {
  const fs::path p = fs::path(path).parent_path();
  return p.empty() ? "." : p.string();
}

std::string strip_slashes(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

void rename_or_fail(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) fail(to, "", "cannot rename " + from + " to it: " + errno_text());
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

uint32_t file_crc32c(const std::string& path) {
  const MappedFile file(path);
  return crc32c(file.data(), file.size());
}

// The top level one key per line, each value compact: readable, and a long loss history stays one
// line instead of thousands.
std::string state_text(const Json& j) {
  std::string out = "{\n";
  size_t i = 0;
  for (const auto& [key, value] : j.items()) {
    out += "  " + Json(key).dump() + ": " + value.dump(-1, ' ', false, Json::error_handler_t::replace);
    out += ++i < j.size() ? ",\n" : "\n";
  }
  return out + "}\n";
}

uint32_t content_checksum(const Json& j) {
  const std::string text = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  return crc32c(text.data(), text.size());
}

Json loss_json(const std::vector<LossPoint>& points) {
  Json a = Json::array();
  for (const LossPoint& p : points) {
    Json loss = std::isfinite(p.loss) ? Json(p.loss) : Json(nullptr);  // JSON has no NaN
    a.push_back(Json::array({p.step, loss}));
  }
  return a;
}

// Readers of the parsed state: each failure names the file and the key.
const Json& member(const Json& j, const std::string& path, const char* key) {
  if (!j.contains(key)) fail(path, key, "missing");
  return j[key];
}
int64_t get_int(const Json& j, const std::string& path, const char* key) {
  const Json& v = member(j, path, key);
  if (!v.is_number_integer()) fail(path, key, "is " + v.dump() + ", not a whole number");
  return v.get<int64_t>();
}
double get_double(const Json& j, const std::string& path, const char* key) {
  const Json& v = member(j, path, key);
  if (!v.is_number()) fail(path, key, "is " + v.dump() + ", not a number");
  return v.get<double>();
}
std::string get_string(const Json& j, const std::string& path, const char* key) {
  const Json& v = member(j, path, key);
  if (!v.is_string()) fail(path, key, "is " + v.dump() + ", not a string");
  return v.get<std::string>();
}
std::vector<LossPoint> get_losses(const Json& j, const std::string& path, const char* key) {
  const Json& a = member(j, path, key);
  if (!a.is_array()) fail(path, key, "is not a list");
  std::vector<LossPoint> out;
  for (const Json& e : a) {
    if (!e.is_array() || e.size() != 2 || !e[0].is_number_integer() || !(e[1].is_number() || e[1].is_null()))
      fail(path, key, "entry " + e.dump() + " is not [step, loss]");
    out.push_back({e[0].get<int64_t>(), e[1].is_null() ? NAN : e[1].get<double>()});
  }
  return out;
}

std::string read_file(const std::string& path) {
  return read_whole_file(path, "missing or unreadable (incomplete checkpoint?)");
}

bool all_digits(std::string_view s) {
  return !s.empty() && s.size() < 19 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "checkpoint-<step>" -> step.
std::optional<int64_t> checkpoint_step(std::string_view name) {
  constexpr std::string_view prefix = "checkpoint-";
  if (name.substr(0, prefix.size()) != prefix || !all_digits(name.substr(prefix.size()))) return std::nullopt;
  return std::stoll(std::string(name.substr(prefix.size())));
}

// "checkpoint-<step>.tmp-<pid>" (a save in progress or interrupted) or "checkpoint-<step>.old-<pid>"
// (a folder renamed aside while being replaced).
struct Leftover {
  std::string owner;  // "checkpoint-<step>"
  bool aside;         // .old rather than .tmp
  long pid;
};
std::optional<Leftover> parse_leftover(std::string_view name) {
  const size_t dot = name.find('.');
  if (dot == std::string_view::npos || !checkpoint_step(name.substr(0, dot))) return std::nullopt;
  const std::string_view kind = name.substr(dot + 1, 4), pid = name.substr(dot + 5);
  if ((kind != "tmp-" && kind != "old-") || !all_digits(pid)) return std::nullopt;
  return Leftover{std::string(name.substr(0, dot)), kind == "old-", std::stol(std::string(pid))};
}

bool is_complete_checkpoint(const fs::path& dir) {
  std::error_code ec;
  return fs::is_directory(dir, ec) && fs::is_regular_file(dir / kStateFile, ec);
}

// A checkpoint renamed aside by a save that was interrupted before its replacement took its place.
std::optional<std::string> aside_copy(const fs::path& dir) {
  std::error_code ec;
  const std::string prefix = dir.filename().string() + ".old-";
  for (const auto& entry : fs::directory_iterator(dir.parent_path().empty() ? "." : dir.parent_path(), ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) == 0 && is_complete_checkpoint(entry.path())) return entry.path().string();
  }
  return std::nullopt;
}

void prune_checkpoints(const std::string& output_dir, int64_t keep, const std::string& just_saved) {
  std::vector<std::pair<int64_t, fs::path>> checkpoints;
  std::vector<fs::path> leftovers;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(output_dir, ec)) {
    if (!entry.is_directory(ec)) continue;
    const std::string name = entry.path().filename().string();
    if (const auto step = checkpoint_step(name)) {
      checkpoints.emplace_back(*step, entry.path());
    } else if (const auto left = parse_leftover(name)) {
      // Another live process may be saving right now; only a dead writer's leftovers are ours to clear.
      if (left->pid != static_cast<long>(::getpid()) && process_alive(left->pid)) continue;
      // An aside copy is the only copy when its checkpoint never came back: keep it then.
      if (left->aside && !is_complete_checkpoint(fs::path(output_dir) / left->owner)) continue;
      leftovers.push_back(entry.path());
    }
  }
  for (const fs::path& dir : leftovers) fs::remove_all(dir, ec);
  if (keep <= 0) return;
  std::sort(checkpoints.begin(), checkpoints.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  int64_t kept = 0;
  for (const auto& [step, dir] : checkpoints) {
    if (dir.filename() == just_saved || kept < keep - 1) {
      if (dir.filename() != just_saved) ++kept;
      continue;
    }
    fs::remove_all(dir, ec);
  }
}

#if !defined(__SSE4_2__)
std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));  // reflected Castagnoli
    t[i] = c;
  }
  return t;
}
#endif

}  // namespace

uint32_t crc32c(const void* data, size_t size, uint32_t crc) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  crc = ~crc;
#if defined(__SSE4_2__)
  uint64_t c = crc;
  for (; size >= 8; size -= 8, p += 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    c = _mm_crc32_u64(c, word);
  }
  crc = static_cast<uint32_t>(c);
  for (; size > 0; --size, ++p) crc = _mm_crc32_u8(crc, *p);
#else
  static const std::array<uint32_t, 256> table = make_crc_table();
  for (; size > 0; --size, ++p) crc = (crc >> 8) ^ table[(crc ^ *p) & 0xFFu];
#endif
  return ~crc;
}

void set_checkpoint_stage_hook(void (*hook)(const char* stage)) {
  g_stage_hook = hook;
}


std::vector<size_t> checkpoint_stream_order(std::span<const CheckpointArray> arrays) {
  std::vector<size_t> order(arrays.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  // The safetensors writer's order (widest dtype first, then by name), which save_checkpoint checks.
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (arrays[a].dtype != arrays[b].dtype) return arrays[a].dtype > arrays[b].dtype;
    return arrays[a].name < arrays[b].name;
  });
  return order;
}

std::vector<CheckpointArray> adamw_checkpoint_arrays(size_t count) {
  return {{"values", SafeDtype::F32, count}, {"exp_avg", SafeDtype::F32, count}, {"exp_avg_sq", SafeDtype::F32, count}};
}

namespace {
std::span<const uint8_t> bytes_of(std::span<const float> a) {
  return {reinterpret_cast<const uint8_t*>(a.data()), a.size_bytes()};
}
std::span<uint8_t> bytes_of(std::span<float> a) { return {reinterpret_cast<uint8_t*>(a.data()), a.size_bytes()}; }

// The source of AdamW's whole, in-memory arrays (in adamw_checkpoint_arrays' order).
ArraySource whole_arrays(const std::string& dir, std::span<const float> values, std::span<const float> m,
                         std::span<const float> v) {
  if (m.size() != values.size() || v.size() != values.size())
    fail(strip_slashes(dir), "",
         "internal: AdamW moments (" + std::to_string(m.size()) + ", " + std::to_string(v.size()) +
             " values) do not match the trainable values (" + std::to_string(values.size()) + ")");
  return [=](size_t array, const ByteSink& sink) { sink(bytes_of(array == 0 ? values : array == 1 ? m : v)); };
}
}  // namespace

void save_checkpoint(const std::string& dir, const TrainerState& state, std::span<const float> values,
                     std::span<const float> m, std::span<const float> v) {
  const std::vector<CheckpointArray> arrays = adamw_checkpoint_arrays(values.size());
  save_checkpoint(dir, state, arrays, whole_arrays(dir, values, m, v));
}

void save_checkpoint(const std::string& dir_in, const TrainerState& state, std::span<const CheckpointArray> arrays,
                     const ArraySource& source) {
  const std::string dir = strip_slashes(dir_in);
  const std::string parent = parent_of(dir);
  const std::string tmp = dir + ".tmp-" + std::to_string(::getpid());
  std::error_code ec;
  fs::create_directories(parent, ec);
  fs::remove_all(tmp, ec);  // our own earlier attempt that failed
  if (!fs::create_directory(tmp, ec)) fail(tmp, "", "cannot create the checkpoint folder: " + ec.message());

  // A failed save removes its half-written folder; a crash leaves it, to be ignored and cleared later.
  struct Cleanup {
    std::string path;
    bool armed = true;
    ~Cleanup() {
      std::error_code e;
      if (armed) fs::remove_all(path, e);
    }
  } cleanup{tmp};

  size_t count = 0;  // trainable values
  std::vector<SafetensorsWriteTensor> tensors;
  for (const CheckpointArray& a : arrays) {
    tensors.push_back({a.name, a.dtype, {static_cast<int64_t>(a.count)}, {}});
    if (a.name == "values") count = a.count;
  }
  uint32_t tensors_crc = 0;  // of the bytes as they go to disk, so nothing is read back
  SafetensorsStreamWriter out(tmp + "/" + kTensorsFile, tensors,
                              {{"format", kFormat}, {"step", std::to_string(state.step)}},
                              [&](const void* p, size_t n) { tensors_crc = crc32c(p, n, tensors_crc); });
  const std::vector<size_t> order = checkpoint_stream_order(arrays);
  for (size_t k = 0; k < order.size(); ++k) {
    const size_t i = order[k];
    const std::string& name = arrays[i].name;
    if (out.order()[k] != name) fail(tmp, "", "internal: the tensors file orders its arrays differently");
    const size_t expected = arrays[i].count * safe_dtype_size(arrays[i].dtype);
    size_t given = 0;
    source(i, [&](std::span<const uint8_t> piece) {
      given += piece.size();
      out.append(piece);
    });
    if (given != expected)
      fail(tmp, name, "internal: " + std::to_string(given) + " bytes given, " + std::to_string(expected) + " expected");
  }
  out.commit();
  write_file_durable(tmp + "/" + kConfigFile, state.config_yaml);

  Json j;
  j["format"] = kFormat;
  j["version"] = kVersion;
  j["step"] = state.step;
  j["epoch"] = state.epoch;
  j["data_position"] = state.data_position;
  j["tokens"] = state.tokens;
  j["elapsed_seconds"] = state.elapsed_seconds;
  j["world_size"] = state.world_size;
  j["skipped_steps"] = state.skipped_steps;
  j["rng_state"] = state.rng_state;
  j["layout"] = state.layout;
  j["trainable_count"] = count;
  // Sizes as they are on disk; checksums of the bytes written (the tensors file's as it was streamed,
  // so it is never mapped back in: that would cost its size in resident memory).
  Json files = Json::object();
  for (const char* name : {kTensorsFile, kConfigFile}) {
    const std::string path = tmp + "/" + name;
    const uint64_t size = fs::file_size(path, ec);
    if (ec) fail(path, "", "cannot stat the file just written: " + ec.message());
    const uint32_t crc = name == std::string_view(kTensorsFile)
                             ? tensors_crc
                             : crc32c(state.config_yaml.data(), state.config_yaml.size());
    files[name] = {{"bytes", size}, {"crc32c", hex32(crc)}};
  }
  j["files"] = files;
  j["train_loss"] = loss_json(state.train_loss);
  j["eval_loss"] = loss_json(state.eval_loss);
  j["checksum"] = hex32(content_checksum(j));
  write_file_durable(tmp + "/" + kStateFile, state_text(j));
  fsync_dir(tmp);
  stage("written");

  // Put the new folder in place. An existing one is renamed aside first and removed only after, so
  // some complete checkpoint of this name exists at every instant.
  std::string aside;
  if (fs::exists(dir, ec)) {
    aside = dir + ".old-" + std::to_string(::getpid());
    fs::remove_all(aside, ec);
    rename_or_fail(dir, aside);
    stage("aside");
  }
  rename_or_fail(tmp, dir);
  cleanup.armed = false;
  fsync_dir(parent);
  stage("renamed");
  if (!aside.empty()) fs::remove_all(aside, ec);
}

std::string save_training_checkpoint(const std::string& output_dir, const TrainerState& state,
                                     std::span<const float> values, std::span<const float> m, std::span<const float> v,
                                     int64_t save_total_limit) {
  const std::vector<CheckpointArray> arrays = adamw_checkpoint_arrays(values.size());
  return save_training_checkpoint(output_dir, state, arrays, whole_arrays(output_dir, values, m, v),
                                  save_total_limit);
}

void clear_interrupted_saves(const std::string& output_dir) {
  prune_checkpoints(strip_slashes(output_dir), 0, "");
  remove_dead_writers_temporaries(strip_slashes(output_dir));
}

std::string save_training_checkpoint(const std::string& output_dir, const TrainerState& state,
                                     std::span<const CheckpointArray> arrays, const ArraySource& source,
                                     int64_t save_total_limit) {
  const std::string name = "checkpoint-" + std::to_string(state.step);
  const std::string dir = strip_slashes(output_dir) + "/" + name;
  save_checkpoint(dir, state, arrays, source);
  write_file_atomically(strip_slashes(output_dir) + "/" + kLatestFile, name + "\n");
  stage("latest");
  prune_checkpoints(strip_slashes(output_dir), save_total_limit, name);
  return dir;
}

TrainerState load_checkpoint(const std::string& dir, std::span<float> values, std::span<float> m, std::span<float> v,
                             const std::string& expected_layout) {
  const std::vector<CheckpointArray> arrays = adamw_checkpoint_arrays(values.size());
  if (m.size() != values.size() || v.size() != values.size())
    fail(strip_slashes(dir), "", "internal: AdamW moments and values of different lengths");
  const std::span<uint8_t> dest[] = {bytes_of(values), bytes_of(m), bytes_of(v)};
  return load_checkpoint(dir, arrays, dest, expected_layout);
}

TrainerState load_checkpoint(const std::string& dir_in, std::span<const CheckpointArray> arrays,
                             std::span<const std::span<uint8_t>> dest, const std::string& expected_layout) {
  const std::string dir = strip_slashes(dir_in);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail(dir, "", "no such checkpoint folder");
  const std::string state_path = dir + "/" + kStateFile;
  Json j = Json::parse(read_file(state_path), nullptr, false);
  if (j.is_discarded() || !j.is_object()) fail(state_path, "", "not valid JSON: the file is corrupted");
  if (!j.contains("format") || j["format"] != kFormat) fail(state_path, "format", "not a frugal checkpoint");
  if (get_int(j, state_path, "version") != kVersion)
    fail(state_path, "version",
         "checkpoint format " + j["version"].dump() + " is not the supported " + std::to_string(kVersion));
  const std::string saved_checksum = get_string(j, state_path, "checksum");
  j.erase("checksum");
  if (hex32(content_checksum(j)) != saved_checksum)
    fail(state_path, "", "checksum mismatch: the file was edited or is corrupted");

  const Json& files = member(j, state_path, "files");
  for (const char* name : {kTensorsFile, kConfigFile}) {
    const std::string path = dir + "/" + name;
    if (!files.contains(name)) fail(state_path, "files", std::string("no entry for ") + name);
    const Json& f = files[name];
    if (!fs::is_regular_file(path, ec)) fail(path, "", "missing (incomplete checkpoint?)");
    const uint64_t size = fs::file_size(path, ec);
    const int64_t expected = get_int(f, state_path, "bytes");
    if (static_cast<int64_t>(size) != expected)
      fail(path, "",
           "is " + std::to_string(size) + " bytes, the checkpoint recorded " + std::to_string(expected) +
               " (truncated or corrupted)");
    const std::string crc = hex32(file_crc32c(path));
    if (crc != get_string(f, state_path, "crc32c"))
      fail(path, "",
           "checksum mismatch (crc32c " + crc + ", recorded " + f["crc32c"].get<std::string>() +
               "): the file is corrupted");
  }

  TrainerState state;
  state.step = get_int(j, state_path, "step");
  state.epoch = get_int(j, state_path, "epoch");
  state.data_position = get_int(j, state_path, "data_position");
  state.tokens = get_int(j, state_path, "tokens");
  state.elapsed_seconds = get_double(j, state_path, "elapsed_seconds");
  // Written since data-parallel training; older checkpoints come from one process.
  state.world_size = j.contains("world_size") ? get_int(j, state_path, "world_size") : 1;
  state.skipped_steps = j.contains("skipped_steps") ? get_int(j, state_path, "skipped_steps") : 0;
  if (state.world_size < 1) fail(state_path, "world_size", "must be at least 1");
  state.layout = get_string(j, state_path, "layout");
  const Json& rng = member(j, state_path, "rng_state");
  if (!rng.is_array()) fail(state_path, "rng_state", "is not a list");
  for (const Json& x : rng) {
    if (!x.is_number_unsigned()) fail(state_path, "rng_state", "entry " + x.dump() + " is not an unsigned integer");
    state.rng_state.push_back(x.get<uint64_t>());
  }
  state.train_loss = get_losses(j, state_path, "train_loss");
  state.eval_loss = get_losses(j, state_path, "eval_loss");
  state.config_yaml = read_file(dir + "/" + kConfigFile);

  if (!expected_layout.empty() && state.layout != expected_layout)
    fail(state_path, "layout",
         "the checkpoint holds \"" + state.layout + "\" but this run trains \"" + expected_layout +
             "\" (was it made with another model, method, lora_r or lora_target_modules?)");

  const std::string tensors_path = dir + "/" + kTensorsFile;
  const SafetensorsFile st(tensors_path);
  if (dest.size() != arrays.size()) fail(tensors_path, "", "internal: one destination per array expected");
  for (size_t i = 0; i < arrays.size(); ++i) {
    const CheckpointArray& a = arrays[i];
    const SafetensorsTensor* t = st.find(a.name);
    if (!t)
      fail(tensors_path, "tensor " + a.name,
           "missing: this run's optimizer keeps it (was the checkpoint made with another optim or momentum?)");
    if (t->dtype != a.dtype || t->shape.size() != 1)
      fail(tensors_path, "tensor " + a.name,
           std::string("is not a flat ") + safe_dtype_name(a.dtype) + " array (was it made with another optim?)");
    if (static_cast<size_t>(t->numel()) != a.count)
      fail(tensors_path, "tensor " + a.name,
           "holds " + std::to_string(t->numel()) + " values but this run " + (a.name == "values" ? "trains " : "keeps ") +
               std::to_string(a.count) +
               " (was the checkpoint made with another model, method, lora_r, lora_target_modules or optim?)");
    if (dest[i].size() != t->nbytes) fail(tensors_path, "tensor " + a.name, "internal: destination of another size");
  }
  if (st.tensors().size() != arrays.size())
    fail(tensors_path, "", "holds " + std::to_string(st.tensors().size()) + " arrays, this run's optimizer keeps " +
                               std::to_string(arrays.size()) + " (was the checkpoint made with another optim?)");
  // Everything checked: only now overwrite the caller's arrays.
  for (size_t i = 0; i < arrays.size(); ++i) {
    const SafetensorsTensor& t = st.get(arrays[i].name);
    if (t.nbytes > 0) std::memcpy(dest[i].data(), t.data, t.nbytes);
  }
  return state;
}

std::optional<std::string> latest_checkpoint(const std::string& output_dir_in) {
  const fs::path out = strip_slashes(output_dir_in);
  std::error_code ec;
  std::ifstream in(out / kLatestFile);
  std::string name;
  if (in && std::getline(in, name) && !name.empty() && name.find('/') == std::string::npos) {
    if (is_complete_checkpoint(out / name)) return (out / name).string();
    if (auto copy = aside_copy(out / name)) return copy;
  }
  // No usable pointer (never written, or lost): fall back to the highest-numbered complete folder.
  std::optional<std::pair<int64_t, std::string>> best;
  for (const auto& entry : fs::directory_iterator(out, ec)) {
    const auto step = checkpoint_step(entry.path().filename().string());
    if (!step || !is_complete_checkpoint(entry.path())) continue;
    if (!best || *step > best->first) best = std::make_pair(*step, entry.path().string());
  }
  if (best) return best->second;
  return std::nullopt;
}

std::string resolve_checkpoint(const std::string& spec, const std::string& output_dir) {
  if (spec == "latest") {
    if (auto dir = latest_checkpoint(output_dir)) return *dir;
    fail(output_dir, "resume_from_checkpoint", "no checkpoint to resume from in this folder");
  }
  const std::string dir = strip_slashes(spec);
  if (is_complete_checkpoint(dir)) return dir;
  if (auto copy = aside_copy(dir)) return *copy;
  std::error_code ec;
  if (fs::is_directory(dir, ec)) fail(dir, "", std::string("not a complete checkpoint (no ") + kStateFile + ")");
  fail(dir, "resume_from_checkpoint", "no such checkpoint folder");
}

}  // namespace frugal
