#include "core/half.h"

#include <immintrin.h>

namespace frugal {

// F16C does the IEEE conversion in hardware with round-to-nearest-even; x86-64 with AVX2 is our floor.
float fp16_to_float(uint16_t h) { return _cvtsh_ss(h); }
uint16_t float_to_fp16(float f) { return _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT); }

}  // namespace frugal
