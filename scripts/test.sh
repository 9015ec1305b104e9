#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The one test command: installs dependencies, builds the `ci` preset (Release, warnings as
# errors, CPU only) into build/ci and runs every test. When Debian's aarch64 cross-compiler and
# qemu-user are present (install-deps installs them), scripts/test-arm.sh builds the NEON kernels
# into build/arm and runs the whole suite under qemu-aarch64. When nvcc is present the CUDA build
# is compiled too (build/cuda); it is built and tested in full only when a GPU is visible.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
start=$(date +%s)
jobs=$(nproc 2>/dev/null || echo 2)

scripts/install-deps.sh

cmake --preset ci
cmake --build --preset ci --parallel "$jobs"
ctest --test-dir build/ci --output-on-failure -j2

if command -v aarch64-linux-gnu-g++ >/dev/null 2>&1 && command -v qemu-aarch64 >/dev/null 2>&1; then
  scripts/test-arm.sh
else
  echo "== AArch64 tests SKIPPED: aarch64-linux-gnu-g++ and qemu-aarch64 not both found" \
    "(Debian: apt-get install g++-aarch64-linux-gnu qemu-user)"
fi

if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
  echo "== CUDA build (nvcc found)"
  cuda_args=()
  command -v nvcc >/dev/null 2>&1 || cuda_args=(-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc)
  cmake --preset cuda "${cuda_args[@]}"
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    cmake --build --preset cuda --parallel "$jobs"
    ctest --test-dir build/cuda --output-on-failure -j2
  else
    # No GPU: compile what CUDA changes (the library, the tool, the public headers under nvcc);
    # the CPU tests ran above.
    cmake --build --preset cuda --parallel "$jobs" \
      --target ternary ternary_cli ternary_header_check_cuda
    echo "== no GPU visible: CUDA build compiled, GPU tests skipped"
  fi
fi

echo "== scripts/test.sh passed in $(($(date +%s) - start)) s"
