#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The sanitizer runs (docs/RELIABILITY.md, "Sanitizer runs"):
#
#   asan  build/asan: the `asan` preset (AddressSanitizer + UndefinedBehaviorSanitizer,
#         RelWithDebInfo flags at -O1 -g1) with warnings as errors; every target but the
#         benchmarks (library, ternary::quant, ternary::io, the `ternary` tool, tests,
#         examples); every ctest except the `packaging` label. Any report fails: leaks are
#         checked, UBSan does not recover (-fno-sanitize-recover=all,
#         cmake/TernarySanitizers.cmake), ASan halts on the first error. The child processes
#         of the CLI tests (the instrumented `ternary` tool) inherit the same options.
#   tsan  build/tsan: the `tsan` preset (ThreadSanitizer, same flags) with warnings as errors,
#         building only what the thread tests need (library, quant, io; no tool, examples or
#         benchmarks) and the dispatch tests; runs `ctest -L threads` (tests/test_threads.cpp
#         and the fresh processes of tests/test_first_use.cpp) and the dispatch tests that
#         involve threads, halting on any report.
#   Both use clang++ when present (TERNARY_SANITIZE_CXX overrides), see below.
#
# Why no `packaging` tests under ASan: they install this build and configure, build and run
# small consumer projects; two of them (add_subdirectory, FetchContent) recompile the whole
# library from source, and every consumer inherits the sanitizer flags through the exported
# targets. That is minutes of compilation that exercises CMake packaging, not memory safety;
# the CI build (scripts/test.sh) runs them without sanitizers.
#
# Usage: scripts/test-sanitize.sh [asan] [tsan]   (default: both). Build directories are reused
# (incremental); remove build/asan and build/tsan for a clean run. Exits non-zero on any failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs=$(nproc 2>/dev/null || echo 2)
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(asan tsan)
for s in "${stages[@]}"; do
  case "$s" in
    asan | tsan) ;;
    *)
      echo "usage: $0 [asan] [tsan]" >&2
      exit 2
      ;;
  esac
done

start=$(date +%s)
timings=()
# Runs a command and records how long it took under a label.
timed() {
  local label=$1 t0 rc=0
  shift
  t0=$(date +%s)
  echo "== $label: $*"
  "$@" || rc=$?
  local note=""
  [ "$rc" -eq 0 ] || note="  (failed, exit $rc)"
  timings+=("$(printf '%-22s %5d s%s' "$label" $(($(date +%s) - t0)) "$note")")
  return "$rc"
}

# -O1 -g1 instead of RelWithDebInfo's -O2 -g: a third of the compile time (the test suites
# are large), the optimisation level the sanitizers recommend, and line numbers in reports.
opt_flags="-O1 -g1 -DNDEBUG"
# Clang when present: it compiles these builds in about half GCC's time, and its sanitizers add
# checks GCC's lack (-fsanitize=function, vptr). TERNARY_SANITIZE_CXX overrides (e.g. g++; the
# GCC builds pass too). Changing it needs clean build directories.
cxx=${TERNARY_SANITIZE_CXX:-}
if [ -z "$cxx" ] && command -v clang++ >/dev/null 2>&1; then
  cxx=clang++
fi
compiler_args=()
[ -z "$cxx" ] || compiler_args=(-DCMAKE_CXX_COMPILER="$cxx")

run_asan() {
  timed "asan configure" cmake --preset asan -DTERNARY_WERROR=ON -DTERNARY_BUILD_CLI=ON \
    -DTERNARY_BUILD_EXAMPLES=ON -DTERNARY_BUILD_BENCHMARKS=OFF \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$opt_flags" ${compiler_args[@]+"${compiler_args[@]}"}
  timed "asan build" cmake --build build/asan --parallel "$jobs"
  # allocator_may_return_null: an impossible allocation returns null / throws std::bad_alloc as
  # it would without ASan, so the library's out_of_memory paths run instead of an ASan abort.
  local asan="detect_leaks=1:halt_on_error=1:abort_on_error=1:print_stacktrace=1"
  asan+=":check_initialization_order=1:strict_init_order=1:allocator_may_return_null=1"
  timed "asan tests" env ASAN_OPTIONS="$asan" \
    UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:report_error_type=1" \
    ctest --test-dir build/asan --output-on-failure -j "$jobs" --label-exclude packaging \
    --no-tests=error --timeout 900
}

run_tsan() {
  timed "tsan configure" cmake --preset tsan -DTERNARY_WERROR=ON -DTERNARY_BUILD_CLI=OFF \
    -DTERNARY_BUILD_EXAMPLES=OFF -DTERNARY_BUILD_BENCHMARKS=OFF \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$opt_flags" ${compiler_args[@]+"${compiler_args[@]}"}
  timed "tsan build" cmake --build build/tsan --parallel "$jobs" --target ternary_test_threads \
    ternary_test_first_use ternary_test_dispatch
  # The thread tests, then the dispatch tests that involve threads or process-wide state: the
  # grid's row split across the worker pool (its single-plane half), ISA selection and
  # TERNARY_ISA. The two-plane half of the grid, the K = max_cols arithmetic and the re-run
  # without AVX512_BF16 add no threading (the ASan stage runs them) and would double the time.
  local tsan="halt_on_error=1:second_deadlock_stack=1"
  timed "tsan thread tests" env TSAN_OPTIONS="$tsan" ctest --test-dir build/tsan \
    --output-on-failure -j "$jobs" --label-regex '^threads$' --no-tests=error --timeout 900
  timed "tsan dispatch tests" env TSAN_OPTIONS="$tsan" ctest --test-dir build/tsan \
    --output-on-failure -j "$jobs" --tests-regex '^dispatch\.' \
    --exclude-regex 'AccumulatorsStayExactAtMaxCols|NoAvx512Bf16|_planes2' --no-tests=error \
    --timeout 900
}

report() {
  local rc=$?
  echo "== sanitizer timings"
  [ ${#timings[@]} -eq 0 ] || printf '   %s\n' "${timings[@]}"
  if [ "$rc" -eq 0 ]; then
    echo "== scripts/test-sanitize.sh (${stages[*]}) passed in $(($(date +%s) - start)) s"
  else
    echo "== scripts/test-sanitize.sh (${stages[*]}) FAILED (exit $rc)" \
      "after $(($(date +%s) - start)) s"
  fi
}
trap report EXIT

for s in "${stages[@]}"; do
  "run_$s"
done
