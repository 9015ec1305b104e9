// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ternary/isa.hpp"

namespace ternary {
namespace detail {

/// The ISA for the next compute call; fails (with the reason recorded) when TERNARY_ISA names an
/// ISA this build or CPU cannot run.
status resolve_isa(isa* out) noexcept;

/// Optional extensions inside an ISA tier, for kernels that pick a variant at run time.
bool cpu_has_avx_vnni() noexcept;
bool cpu_has_avx512_bf16() noexcept;
bool cpu_has_dotprod() noexcept;

}  // namespace detail
}  // namespace ternary
