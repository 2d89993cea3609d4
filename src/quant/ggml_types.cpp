#include "quant/ggml_types.h"

#include "core/error.h"

namespace frugal {

namespace {

struct TypeInfo {
  uint32_t id;
  const char* name;
  int64_t block_elems;  // 0: known to ggml but not readable here
  int64_t block_bytes;
};

// Every id ggml has assigned, so an unsupported file names its type ("IQ4_XS") rather than a number.
// Ids 4, 5 and 31-33, 36-38 were removed from ggml and have no name.
constexpr TypeInfo kTypes[] = {
    {0, "F32", 1, 4},       {1, "F16", 1, 2},       {2, "Q4_0", 32, 18},    {3, "Q4_1", 32, 20},  {6, "Q5_0", 32, 22},
    {7, "Q5_1", 32, 24},    {8, "Q8_0", 32, 34},    {9, "Q8_1", 0, 0},      {10, "Q2_K", 0, 0},   {11, "Q3_K", 0, 0},
    {12, "Q4_K", 256, 144}, {13, "Q5_K", 256, 176}, {14, "Q6_K", 256, 210}, {15, "Q8_K", 0, 0},   {16, "IQ2_XXS", 0, 0},
    {17, "IQ2_XS", 0, 0},   {18, "IQ3_XXS", 0, 0},  {19, "IQ1_S", 0, 0},    {20, "IQ4_NL", 0, 0}, {21, "IQ3_S", 0, 0},
    {22, "IQ2_S", 0, 0},    {23, "IQ4_XS", 0, 0},   {24, "I8", 0, 0},       {25, "I16", 0, 0},    {26, "I32", 0, 0},
    {27, "I64", 0, 0},      {28, "F64", 0, 0},      {29, "IQ1_M", 0, 0},    {30, "BF16", 1, 2},   {34, "TQ1_0", 0, 0},
    {35, "TQ2_0", 0, 0},    {39, "MXFP4", 0, 0},
};

const TypeInfo* find_type(uint32_t id) {
  for (const TypeInfo& t : kTypes)
    if (t.id == id) return &t;
  return nullptr;
}

const TypeInfo& supported_type(GgmlType type) {
  const TypeInfo* t = find_type(static_cast<uint32_t>(type));
  if (!t || t->block_elems == 0)
    fail("ggml tensor type " + ggml_type_name(static_cast<uint32_t>(type)) + " is not supported");
  return *t;
}

}  // namespace

bool ggml_type_supported(uint32_t type) {
  const TypeInfo* t = find_type(type);
  return t && t->block_elems > 0;
}

int64_t ggml_block_elems(GgmlType type) {
  return supported_type(type).block_elems;
}

int64_t ggml_block_bytes(GgmlType type) {
  return supported_type(type).block_bytes;
}

uint64_t ggml_row_bytes(GgmlType type, int64_t n) {
  const TypeInfo& t = supported_type(type);
  if (n < 0 || n % t.block_elems != 0)
    fail("row of " + std::to_string(n) + " elements is not a whole number of " + t.name + " blocks (" +
         std::to_string(t.block_elems) + " elements each)");
  return static_cast<uint64_t>(n / t.block_elems) * static_cast<uint64_t>(t.block_bytes);
}

std::string ggml_type_name(uint32_t type) {
  const TypeInfo* t = find_type(type);
  return t ? std::string(t->name) : "type " + std::to_string(type);
}

}  // namespace frugal
