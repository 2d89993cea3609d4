// Hand-broken copies of a Hugging Face fixture folder, for the loaders' one-line errors: the folder
// is copied, its model.safetensors rewritten through `mutate` (and config.json through `edit`), and
// loading it must fail with a single line containing `needle`.
#pragma once
#include <gtest/gtest.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "format/safetensors.h"
#include "model/model.h"
#include "test_paths.h"

namespace frugal::test {

using Tensors = std::vector<SafetensorsWriteTensor>;
using Storage = std::deque<std::vector<uint8_t>>;  // owns the bytes a mutation puts into Tensors

inline SafetensorsWriteTensor& tensor(Tensors& ts, const std::string& name) {
  for (SafetensorsWriteTensor& t : ts)
    if (t.name == name) return t;
  throw std::runtime_error("test: no tensor " + name);
}

inline void remove_tensor(Tensors& ts, const std::string& name) {
  std::erase_if(ts, [&](const SafetensorsWriteTensor& t) { return t.name == name; });
}

// `fixture_folder` is relative to tests/fixtures; `name` labels the case (and its temporary folder).
inline void expect_broken_folder(const std::string& fixture_folder, const std::string& name,
                                 const std::function<void(Tensors&, Storage&)>& mutate, const std::string& needle,
                                 const std::function<void(nlohmann::json&)>& edit = {}) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(::testing::TempDir()) / ("frugal_broken_" + fs::path(fixture_folder).filename().string() + "_" + name);
  fs::remove_all(dir);
  fs::copy(fixture(fixture_folder), dir);
  {
    SafetensorsFile file(fixture(fixture_folder + "/model.safetensors"));
    Tensors tensors;
    for (const SafetensorsTensor& t : file.tensors())
      tensors.push_back({t.name, t.dtype, t.shape, std::span<const uint8_t>(t.data, t.nbytes)});
    Storage storage;
    mutate(tensors, storage);
    write_safetensors((dir / "model.safetensors").string(), tensors, {{"format", "pt"}});
  }
  if (edit) {
    std::ifstream in(dir / "config.json");
    nlohmann::json j = nlohmann::json::parse(in);
    in.close();
    edit(j);
    std::ofstream(dir / "config.json") << j.dump();
  }
  try {
    load_model(dir.string());
    ADD_FAILURE() << name << ": loaded";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(needle), std::string::npos) << name << ": " << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << name;
  }
  fs::remove_all(dir);
}

}  // namespace frugal::test
