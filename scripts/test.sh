#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The one test command: installs dependencies, builds the `ci` preset (Release, warnings as
# errors, CPU only) into build/ci and runs every test. When Debian's aarch64 cross-compiler and
# qemu-user are present (install-deps installs them), scripts/test-arm.sh builds the NEON kernels
# into build/arm and runs the whole suite under qemu-aarch64. When nvcc is present the CUDA build
# is compiled too (build/cuda); it is built and tested in full only when a GPU is visible.
# Then scripts/test-sanitize.sh runs the suite under ASan+UBSan and the thread tests under TSan,
# and scripts/fuzz.sh runs every libFuzzer target briefly (when clang's libFuzzer is present).
# TERNARY_TEST_SKIP="arm cuda sanitize fuzz" skips stages (for quick local runs; CI runs all).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
start=$(date +%s)
jobs=$(nproc 2>/dev/null || echo 2)

scripts/install-deps.sh

cmake --preset ci
cmake --build --preset ci --parallel "$jobs"
ctest --test-dir build/ci --output-on-failure -j2

skip=" ${TERNARY_TEST_SKIP:-} "
stage_start=$start
stage_done() {
  echo "== $1 done at +$(($(date +%s) - start)) s (stage $(($(date +%s) - stage_start)) s)"
  stage_start=$(date +%s)
}
stage_done "x86 build and tests"

if [[ "$skip" == *" arm "* ]]; then
  echo "== AArch64 tests SKIPPED (TERNARY_TEST_SKIP)"
elif command -v aarch64-linux-gnu-g++ >/dev/null 2>&1 && command -v qemu-aarch64 >/dev/null 2>&1; then
  scripts/test-arm.sh
else
  echo "== AArch64 tests SKIPPED: aarch64-linux-gnu-g++ and qemu-aarch64 not both found" \
    "(Debian: apt-get install g++-aarch64-linux-gnu qemu-user)"
fi

stage_done "AArch64 stage"

if [[ "$skip" == *" cuda "* ]]; then
  echo "== CUDA build SKIPPED (TERNARY_TEST_SKIP)"
elif command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
  echo "== CUDA build (nvcc found)"
  cuda_args=(-DTERNARY_WERROR=ON)
  command -v nvcc >/dev/null 2>&1 || cuda_args+=(-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc)
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    cmake --preset cuda "${cuda_args[@]}"
    cmake --build --preset cuda --parallel "$jobs"
    ctest --test-dir build/cuda --output-on-failure -j2
  else
    # No GPU: compile what CUDA changes (the library with its kernels, the tool, the CUDA tests,
    # the public headers under nvcc) and run the host-side CUDA tests; the GPU tests skip. Only
    # PTX for one architecture is generated (no SASS): this checks the CUDA sources compile, in
    # minutes instead of the quarter hour that SASS for every default architecture takes.
    cmake --preset cuda "${cuda_args[@]}" -DCMAKE_CUDA_ARCHITECTURES=90-virtual
    cmake --build --preset cuda --parallel "$jobs" \
      --target ternary ternary_cli ternary_header_check_cuda ternary_test_cuda_host \
      ternary_test_cuda
    ctest --test-dir build/cuda --output-on-failure -L cuda
    echo "== no GPU visible: CUDA build compiled, host-side CUDA tests run, GPU tests skipped"
  fi
fi
stage_done "CUDA stage"

if [[ "$skip" == *" sanitize "* ]]; then
  echo "== sanitizer runs SKIPPED (TERNARY_TEST_SKIP)"
else
  scripts/test-sanitize.sh
fi
stage_done "sanitizer stage"

if [[ "$skip" == *" fuzz "* ]]; then
  echo "== fuzzing SKIPPED (TERNARY_TEST_SKIP)"
else
  # About a minute per target (scripts/fuzz.sh's default); docs/FUZZING.md records longer runs.
  scripts/fuzz.sh
fi
stage_done "fuzz stage"

echo "== scripts/test.sh passed in $(($(date +%s) - start)) s"
