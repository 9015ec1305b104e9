// SPDX-License-Identifier: Apache-2.0
// Kernels for the scalar tier. This translation unit alone is compiled with the tier's ISA flags
// (CMake); the dispatcher calls into it only after CPUID says the CPU can run them.
#include "cpu/kernels/generic.hpp"

namespace ternary {
namespace cpu {
const kernel_table* kernels_scalar() noexcept { return &generic_table; }
}  // namespace cpu
}  // namespace ternary
