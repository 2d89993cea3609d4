// The target id that marks a position contributing no loss (prompt, padding): PyTorch's
// ignore_index. Shared by the data layer, which writes it, and the loss kernel, which skips it.
#pragma once
#include <cstdint>

namespace frugal {

constexpr int32_t kIgnoreTarget = -100;

}  // namespace frugal
