// SPDX-License-Identifier: Apache-2.0
#include "ternary/activations.hpp"

#include <cmath>

#include "detail/error.hpp"

#include "ternary/format/format.hpp"
#include "ternary/ref/quantize.hpp"

namespace ternary {

using detail::fail;

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
  for (int64_t t = 0; t < tokens; ++t) {
    const float* xt = x + t * ldx;
    for (int64_t k = 0; k < cols; ++k) {
      if (!std::isfinite(xt[k]))
        return fail(status::invalid_argument,
                    "quantize_activations: x[token %lld, col %lld] is %g (not finite)",
                    static_cast<long long>(t), static_cast<long long>(k),
                    static_cast<double>(xt[k]));
    }
    scales[t] = ref::quantize_row(xt, cols, xq + t * ldq);
  }
  return status::ok;
}

}  // namespace ternary
