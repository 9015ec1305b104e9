// SPDX-License-Identifier: Apache-2.0
/// \file
/// CPU instruction-set selection. Kernels for each ISA are compiled in their own translation
/// unit; the best one this CPU supports is chosen once, at first use. The environment variable
/// TERNARY_ISA=scalar|avx2|avx512|neon (read once) or set_isa() forces one, for tests and
/// benchmarks. Forcing an ISA this build or CPU cannot run makes compute calls fail with
/// status::unsupported and a message saying what is available.
#pragma once

#include "ternary/config.hpp"
#include "ternary/status.hpp"

namespace ternary {

enum class isa : int {
  scalar = 0,  ///< portable C++, always present
  avx2 = 1,    ///< x86-64 AVX2 + FMA + F16C (+ AVX-VNNI when the CPU has it)
  avx512 = 2,  ///< x86-64 AVX-512 F/BW/VL/VNNI
  neon = 3,    ///< AArch64 Advanced SIMD with the dot-product extension (else scalar runs)
};
constexpr int isa_count = 4;

/// "scalar", "avx2", "avx512", "neon".
TERNARY_API const char* isa_name(isa i) noexcept;
/// Parses a name as above; status::invalid_argument otherwise.
TERNARY_API status parse_isa(const char* name, isa* out) noexcept;
/// True when kernels for `i` are compiled into this build and this CPU can run them.
TERNARY_API bool isa_available(isa i) noexcept;
/// The best available ISA, ignoring overrides.
TERNARY_API isa best_isa() noexcept;
/// The ISA compute calls use now: set_isa() override, else TERNARY_ISA, else best_isa().
/// When the forced ISA is unusable this returns isa::scalar and compute calls fail.
TERNARY_API isa active_isa() noexcept;
/// Process-wide override (thread-safe; meant for tests and benchmarks). Fails, changing
/// nothing, when `i` is not available.
TERNARY_API status set_isa(isa i) noexcept;
/// Drops the set_isa() override (TERNARY_ISA, if set, applies again).
TERNARY_API void clear_isa_override() noexcept;

}  // namespace ternary
