#include "quant/matrix.h"

#include <algorithm>

namespace frugal {

void Matrix::dequantize_into(float* out) const {
  if (q4)
    q4->dequantize(out);
  else if (packed)
    packed->dequantize(out);
  else
    std::copy(data.begin(), data.end(), out);
}

void Matrix::expand_to_fp32() {
  if (!compact()) return;
  data.resize(static_cast<size_t>(rows * cols));
  dequantize_into(data.data());
  q4.reset();
  packed.reset();
}

}  // namespace frugal
