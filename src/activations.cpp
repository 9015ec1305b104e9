// SPDX-License-Identifier: Apache-2.0
#include "ternary/activations.hpp"

#include <cmath>
#include <cstdint>

#include "cpu/kernel.hpp"
#include "detail/error.hpp"

#include "ternary/format/format.hpp"

namespace ternary {

using detail::fail;

namespace {

// Byte extent [*b, *e) of `rows` rows of `cols` elements of `elem` bytes, leading dimension ld;
// false when it does not fit the address space.
bool extent(const void* p, int64_t rows, int64_t ld, int64_t cols, int64_t elem, uintptr_t* b,
            uintptr_t* e) {
  if (rows > 1 && ld > (INT64_MAX / elem - cols) / (rows - 1)) return false;
  const uint64_t bytes = static_cast<uint64_t>(((rows - 1) * ld + cols) * elem);
  *b = reinterpret_cast<uintptr_t>(p);
  if (bytes > UINTPTR_MAX - *b) return false;
  *e = *b + static_cast<uintptr_t>(bytes);
  return true;
}

bool overlap(uintptr_t b1, uintptr_t e1, uintptr_t b2, uintptr_t e2) { return b1 < e2 && b2 < e1; }

}  // namespace

status quantize_activations(const float* x, int64_t tokens, int64_t cols, int64_t ldx, int8_t* xq,
                            int64_t ldq, float* scales) noexcept {
  if (!x) return fail(status::null_pointer, "quantize_activations: x is null");
  if (!xq) return fail(status::null_pointer, "quantize_activations: xq is null");
  if (!scales) return fail(status::null_pointer, "quantize_activations: scales is null");
  if (tokens <= 0 || cols <= 0)
    return fail(status::invalid_argument,
                "quantize_activations: tokens and cols must be positive, got tokens=%lld cols=%lld",
                static_cast<long long>(tokens), static_cast<long long>(cols));
  if (tokens > max_rows || cols > max_cols)
    return fail(status::size_overflow, "quantize_activations: tokens=%lld cols=%lld out of range",
                static_cast<long long>(tokens), static_cast<long long>(cols));
  if (ldx < cols || ldq < cols)
    return fail(status::buffer_too_small,
                "quantize_activations: leading dimensions ldx=%lld ldq=%lld must be >= cols=%lld",
                static_cast<long long>(ldx), static_cast<long long>(ldq),
                static_cast<long long>(cols));
  // Rows are written while later rows are still to be read: the outputs must not alias x.
  uintptr_t xb, xe, qb, qe, sb, se;
  if (!extent(x, tokens, ldx, cols, 4, &xb, &xe) || !extent(xq, tokens, ldq, cols, 1, &qb, &qe) ||
      !extent(scales, 1, tokens, tokens, 4, &sb, &se))
    return fail(status::size_overflow,
                "quantize_activations: tokens x leading dimension overflows the address space");
  if (overlap(xb, xe, qb, qe))
    return fail(status::invalid_argument, "quantize_activations: output xq overlaps the input x");
  if (overlap(sb, se, xb, xe) || overlap(sb, se, qb, qe))
    return fail(status::invalid_argument,
                "quantize_activations: scales overlap the input x or the output xq");
  const cpu::quantize_fn quantize = cpu::active_quantizer();
  for (int64_t t = 0; t < tokens; ++t) {
    const float* xt = x + t * ldx;
    for (int64_t k = 0; k < cols; ++k) {
      if (!std::isfinite(xt[k]))
        return fail(status::invalid_argument,
                    "quantize_activations: x[token %lld, col %lld] is %g (not finite)",
                    static_cast<long long>(t), static_cast<long long>(k),
                    static_cast<double>(xt[k]));
    }
    scales[t] = quantize(xt, cols, xq + t * ldq);
  }
  return status::ok;
}

}  // namespace ternary
