// SPDX-License-Identifier: Apache-2.0
// Kernels for the avx2 tier. This translation unit alone is compiled with the tier's ISA flags
// (CMake); the dispatcher calls into it only after CPUID says the CPU can run them.
#define TERNARY_KERNEL_TABLE_FN kernels_avx2
#include "cpu/kernels/generic.hpp"
