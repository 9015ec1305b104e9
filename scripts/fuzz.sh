#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the libFuzzer targets of tests/fuzz/ with clang (build/fuzz: RelWithDebInfo,
# -fsanitize=fuzzer,address,undefined on the targets, coverage and the same sanitizers on the
# library code they call) and runs each one for TERNARY_FUZZ_SECONDS seconds on a copy of its
# seed corpus (tests/fuzz/corpus/<target>) plus its regression inputs. Nothing is written into
# the source tree: new inputs go to build/fuzz/run/<target>/corpus, crashes to
# build/fuzz/run/<target>/artifacts. Exits non-zero when a target crashes, leaks, hits UB, runs
# out of memory or time, printing the reproducer; exits 0 with "SKIPPED" when clang's libFuzzer
# runtime is unavailable. docs/FUZZING.md describes the targets and how a crash becomes a
# regression test.
#
# Environment:
#   TERNARY_FUZZ_SECONDS   seconds per target (default 60)
#   TERNARY_FUZZ_TARGETS   space-separated subset of: container safetensors gguf interop cli_files
#   TERNARY_FUZZ_PARALLEL  targets run at the same time (default 1; one libFuzzer worker each)
#   TERNARY_FUZZ_CXX       the clang++ to use (default clang++)
#   TERNARY_FUZZ_BUILD_DIR build directory (default build/fuzz)
#   TERNARY_FUZZ_KEEP      1: keep the corpora of a previous run instead of starting from the seeds
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
seconds=${TERNARY_FUZZ_SECONDS:-60}
read -r -a targets <<<"${TERNARY_FUZZ_TARGETS:-container safetensors gguf interop cli_files}"
parallel=${TERNARY_FUZZ_PARALLEL:-1}
cxx=${TERNARY_FUZZ_CXX:-clang++}
build=${TERNARY_FUZZ_BUILD_DIR:-build/fuzz}
keep=${TERNARY_FUZZ_KEEP:-0}
jobs=$(nproc 2>/dev/null || echo 2)
start=$(date +%s)

# Largest input per target: a little above what the largest meaningful input needs.
max_len_of() {
  case "$1" in
    container) echo 8192 ;;
    interop) echo 8192 ;;  # 16 rows x 4 TQ2_0 blocks of 66 bytes, plus the 7-byte header
    *) echo 16384 ;;
  esac
}

# ---- Is libFuzzer there? -----------------------------------------------------------------------
probe_dir=$(mktemp -d)
trap 'rm -rf "$probe_dir"' EXIT
cat >"$probe_dir/probe.cpp" <<'EOF'
#include <cstddef>
#include <cstdint>
extern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }
EOF
if ! command -v "$cxx" >/dev/null 2>&1 ||
  ! "$cxx" -fsanitize=fuzzer,address,undefined "$probe_dir/probe.cpp" -o "$probe_dir/probe" \
    >"$probe_dir/probe.log" 2>&1; then
  echo "== fuzz: SKIPPED: no clang libFuzzer runtime ('$cxx -fsanitize=fuzzer' does not link;" \
    "Debian: apt-get install clang libclang-rt-dev or clang-14)"
  exit 0
fi

for t in "${targets[@]}"; do
  case "$t" in
    container | safetensors | gguf | interop | cli_files) ;;
    *)
      echo "fuzz: unknown target '$t'" >&2
      exit 2
      ;;
  esac
done

# ---- Build ---------------------------------------------------------------------------------------
echo "== fuzz: configuring $build ($cxx)"
mkdir -p "$build"
generator=()
command -v ninja >/dev/null 2>&1 && [ ! -f "$build/CMakeCache.txt" ] && generator=(-G Ninja)
cmake -S . -B "$build" "${generator[@]}" \
  -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DBUILD_SHARED_LIBS=OFF \
  -DTERNARY_BUILD_FUZZERS=ON \
  -DTERNARY_BUILD_TESTS=OFF \
  -DTERNARY_BUILD_BENCHMARKS=OFF \
  -DTERNARY_BUILD_EXAMPLES=OFF \
  -DTERNARY_BUILD_CLI=ON \
  -DTERNARY_INSTALL=OFF \
  -DTERNARY_ENABLE_CUDA=OFF \
  -DTERNARY_SANITIZE= >"$build/configure.log" 2>&1 || {
  cat "$build/configure.log"
  exit 1
}
build_targets=()
for t in "${targets[@]}"; do build_targets+=("fuzz_$t"); done
echo "== fuzz: building ${build_targets[*]}"
cmake --build "$build" --parallel "$jobs" --target "${build_targets[@]}"

# ---- Run -----------------------------------------------------------------------------------------
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_one() {
  local t=$1 dir="$build/run/$1"
  local bin="$build/tests/fuzz/fuzz_$t"
  if [ "$keep" != 1 ] || [ ! -d "$dir/corpus" ]; then
    rm -rf "$dir"
    mkdir -p "$dir/corpus"
    cp -R "tests/fuzz/corpus/$t/." "$dir/corpus/"
  fi
  rm -rf "$dir/artifacts"
  mkdir -p "$dir/artifacts"
  local extra=()
  [ "$t" = cli_files ] && extra+=(-close_fd_mask=3)  # the tool prints listings and errors
  [ -f "tests/fuzz/dict/$t.dict" ] && extra+=("-dict=tests/fuzz/dict/$t.dict")
  # The first directory receives new inputs; the regressions are read only.
  "$bin" "$dir/corpus" "tests/fuzz/regressions/$t" \
    -max_total_time="$seconds" -max_len="$(max_len_of "$t")" \
    -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=20 \
    -artifact_prefix="$dir/artifacts/" -print_final_stats=1 "${extra[@]}" \
    >"$dir/log.txt" 2>&1
}

# Summary line of a finished run: seconds, executions, exec/s, cov, ft, corpus.
summarize() {
  local t=$1 log="$build/run/$1/log.txt"
  local done_line execs rate cov ft corp
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)
  [ -n "$done_line" ] || done_line=$(grep -E '^#[0-9]+[[:space:]]' "$log" | tail -n 1 || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done_line")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[kKmM]*b\).*/\1/p' <<<"$done_line")
  printf '%-12s %6ss %12s execs %8s exec/s   cov %-6s ft %-7s corpus %s\n' "$t" "$seconds" \
    "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}"
}

failed=()
declare -A status_of=()
running=0
pids=()
names=()
for t in "${targets[@]}"; do
  echo "== fuzz: $t for ${seconds}s (log: $build/run/$t/log.txt)"
  run_one "$t" &
  pids+=($!)
  names+=("$t")
  running=$((running + 1))
  if [ "$running" -ge "$parallel" ]; then
    wait "${pids[0]}" && status_of[${names[0]}]=0 || status_of[${names[0]}]=$?
    pids=("${pids[@]:1}")
    names=("${names[@]:1}")
    running=$((running - 1))
  fi
done
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" && status_of[${names[$i]}]=0 || status_of[${names[$i]}]=$?
done

echo "== fuzz: results"
for t in "${targets[@]}"; do
  dir="$build/run/$t"
  summarize "$t"
  mapfile -t crashes < <(find "$dir/artifacts" -type f 2>/dev/null | sort)
  if [ "${status_of[$t]}" != 0 ] || [ "${#crashes[@]}" -gt 0 ]; then
    failed+=("$t")
    echo "!! $t FAILED (exit ${status_of[$t]}); last lines of $dir/log.txt:"
    tail -n 40 "$dir/log.txt" | sed 's/^/   /'
    for c in "${crashes[@]}"; do
      echo "!! reproducer: $root/$c"
      echo "   replay:     $build/tests/fuzz/fuzz_$t $root/$c"
      echo "   then:       cp $root/$c tests/fuzz/regressions/$t/<short-name>  (docs/FUZZING.md)"
    done
  fi
done

echo "== fuzz: ${#targets[@]} target(s) in $(($(date +%s) - start)) s"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "== fuzz: FAILED: ${failed[*]}"
  exit 1
fi
echo "== fuzz: passed"
