#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# AArch64 leg of the test suite: cross-compiles the library (NEON kernels included), the tests
# and the examples with Debian's aarch64-linux-gnu toolchain into build/arm (Release, warnings
# as errors; CLI, benchmarks and CUDA off, packaging tests skipped by CMake in a cross build),
# then runs every test binary under qemu-aarch64 through ctest.
#
# qemu-aarch64's default CPU ("max") has the dot-product extension, so the NEON tier is
# available; TERNARY_EXPECT_ISAS=scalar,neon makes the dispatch tests fail if it is not, and the
# script checks that NEON-parameterised tests were listed and run.
#
# Needs: g++-aarch64-linux-gnu, qemu-user, libgtest-dev (GoogleTest is built from
# /usr/src/googletest), libxsimd-dev. scripts/install-deps.sh installs them; scripts/test.sh
# calls this script when the tools are present.
#
# Arguments are extra CMake configure arguments (e.g. -DCMAKE_CXX_FLAGS=...).
# Environment: TERNARY_ARM_BUILD_DIR (default build/arm), TERNARY_ARM_TEST_TIMEOUT (seconds per
# test, default 300), TERNARY_ARM_JOBS (parallel tests, default: number of CPUs).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
start=$(date +%s)
jobs=$(nproc 2>/dev/null || echo 2)
build_dir=${TERNARY_ARM_BUILD_DIR:-build/arm}
test_timeout=${TERNARY_ARM_TEST_TIMEOUT:-300}
test_jobs=${TERNARY_ARM_JOBS:-$jobs}

for tool in aarch64-linux-gnu-g++ qemu-aarch64; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "test-arm: $tool not found (scripts/install-deps.sh installs g++-aarch64-linux-gnu and" \
      "qemu-user)" >&2
    exit 1
  fi
done

echo "== AArch64 cross build ($(aarch64-linux-gnu-g++ -dumpfullversion), $(qemu-aarch64 --version | head -n1))"
cmake -S . -B "$build_dir" -G Ninja \
  -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/toolchains/aarch64-linux-gnu.cmake" \
  -DCMAKE_BUILD_TYPE=Release \
  -DTERNARY_WERROR=ON \
  -DTERNARY_BUILD_TESTS=ON \
  -DTERNARY_BUILD_EXAMPLES=ON \
  -DTERNARY_BUILD_BENCHMARKS=OFF \
  -DTERNARY_BUILD_CLI=OFF \
  -DTERNARY_ENABLE_CUDA=OFF \
  -DTERNARY_CPU_ISAS="scalar;neon" \
  -DEigen3_DIR=/usr/share/eigen3/cmake \
  -Dnlohmann_json_DIR=/usr/share/cmake/nlohmann_json \
  "$@"
cmake --build "$build_dir" --parallel "$jobs"

built_isas=$(sed -n 's/^#define TERNARY_BUILT_WITH_ISA_\([A-Z0-9]*\) 1$/\1/p' \
  "$build_dir/include/ternary/build_config.hpp" | tr '\n' ' ')
case " $built_isas " in
  *" NEON "*) ;;
  *) echo "test-arm: the NEON kernels were not compiled (built ISAs: $built_isas)" >&2; exit 1 ;;
esac

echo "== AArch64 tests under qemu-aarch64 (built ISAs: ${built_isas% })"
export TERNARY_EXPECT_ISAS=scalar,neon
log="$build_dir/ctest-arm.log"
# The activation-aware ternarizer tests are skipped here: that code has no ISA-specific path of
# its own, and its Gram-matrix and GPTQ passes take minutes under emulation (seconds natively,
# where they run). The weight-only ternarizer tests do run.
ctest --test-dir "$build_dir" --output-on-failure --no-tests=error \
  -E '^quant_aware\.' -j "$test_jobs" --timeout "$test_timeout" 2>&1 | tee "$log"

# The NEON tier must have been exercised, not merely compiled: the parameterised dispatch tests
# are named .../neon when isa_available(neon) held under qemu.
neon_tests=$(grep -cE 'Test +#[0-9]+: [^ ]+/neon( .*)? +\.+ +Passed' "$log" || true)
if [ "$neon_tests" -eq 0 ]; then
  echo "test-arm: no NEON-parameterised test ran; the NEON kernels were not exercised" >&2
  exit 1
fi
echo "== AArch64 tests passed under qemu ($neon_tests NEON kernel tests) in $(($(date +%s) - start)) s"
