#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The one benchmark command: builds the `bench` preset (Release + benchmarks) into build/bench,
# runs `ternary_bench` with JSON output, and writes docs/PERFORMANCE.md and docs/perf_gemv.png
# from that run (scripts/perf_report.py). Every ratio in the report comes from the same run.
#
#   scripts/bench.sh               full suite, --benchmark_min_time=0.3 (< 20 minutes on 2 cores)
#   scripts/bench.sh --quick       reduced suite, --benchmark_min_time=0.1 (< 3 minutes)
#
# Options:
#   --quick            reduced set: 2560x2560 and the DRAM shape, 8/128 tokens, min time 0.1 s
#   --no-build         use the existing build/bench
#   --no-report        run only, leave docs/ untouched
#   --out-dir DIR      where the JSON and console log go (default build/bench/results)
#   --report FILE      report path (default docs/PERFORMANCE.md; the plot goes next to it)
#   --wait-idle S      wait up to S seconds for other processes to leave the CPUs idle
#                      (default 300 full, 60 quick; 0 = don't wait)
#   --priority         run the benchmark at nice -10 (root) so that other jobs disturb it less
#   -- ARGS            passed to ternary_bench (e.g. -- --benchmark_filter=BM_gemv/bits2)
# Environment: TERNARY_BENCH_NO_INSTALL=1 skips installing missing packages (Debian build deps
# through scripts/install-deps.sh, matplotlib from PyPI for the plot).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
start=$(date +%s)
invocation="scripts/bench.sh${*:+ $*}"

quick=0 build=1 report=1 priority=0 wait_idle=""
out_dir=build/bench/results
report_file=docs/PERFORMANCE.md
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --no-build) build=0 ;;
    --no-report) report=0 ;;
    --out-dir) out_dir=$2; shift ;;
    --report) report_file=$2; shift ;;
    --wait-idle) wait_idle=$2; shift ;;
    --priority) priority=1 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '3,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$wait_idle" ] || wait_idle=$([ "$quick" = 1 ] && echo 60 || echo 300)
suite=$([ "$quick" = 1 ] && echo quick || echo full)
jobs=$(nproc 2>/dev/null || echo 2)

if [ "$build" = 1 ]; then
  [ "${TERNARY_BENCH_NO_INSTALL:-0}" = 1 ] || scripts/install-deps.sh
  echo "== configure + build (preset bench)"
  cmake --preset bench >/dev/null
  cmake --build --preset bench --parallel "$jobs" --target ternary_bench
fi
bench_exe=build/bench/bench/ternary_bench
if [ ! -x "$bench_exe" ]; then
  echo "bench.sh: $bench_exe not found; run without --no-build" >&2
  exit 1
fi

# The plot needs matplotlib (PyPI, or Debian's python3-matplotlib for /usr/bin/python3) or
# gnuplot; without any of them the report says so and has no plot.
python=python3
for candidate in python3 /usr/bin/python3; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import matplotlib' 2>/dev/null
  then
    python=$candidate
    break
  fi
done
if [ "$report" = 1 ] && ! "$python" -c 'import matplotlib' 2>/dev/null &&
   ! command -v gnuplot >/dev/null 2>&1 && [ "${TERNARY_BENCH_NO_INSTALL:-0}" != 1 ]; then
  echo "== installing matplotlib for the plot (python3 -m pip install matplotlib)"
  python3 -m pip install --quiet matplotlib ||
    echo "bench.sh: could not install matplotlib; the report will have no plot" >&2
fi

# Percentage of CPU time other processes used over one second (all CPUs).
cpu_busy() {
  local a b
  read -r -a a < <(grep '^cpu ' /proc/stat)
  sleep 1
  read -r -a b < <(grep '^cpu ' /proc/stat)
  local total=0 idle i
  for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
  idle=$((b[4] - a[4] + b[5] - a[5]))
  [ "$total" -gt 0 ] || { echo 0; return; }
  echo $(((total - idle) * 100 / total))
}
busy=0
if [ -r /proc/stat ]; then
  busy=$(cpu_busy)
  if [ "$wait_idle" -gt 0 ] && [ "$busy" -ge 15 ]; then
    echo "== CPUs ${busy}% busy with other work; waiting up to ${wait_idle} s for them to go idle"
    deadline=$(($(date +%s) + wait_idle))
    while [ "$busy" -ge 15 ] && [ "$(date +%s)" -lt "$deadline" ]; do
      sleep 4
      busy=$(cpu_busy)
    done
    [ "$busy" -lt 15 ] || echo "== still ${busy}% busy: running anyway (the report warns)"
  fi
fi

mkdir -p "$out_dir"
json="$out_dir/bench-$suite.json"
log="$out_dir/bench-$suite.txt"
args=("--suite=$suite" "--benchmark_out=$json" "--benchmark_out_format=json")
if [ "$quick" = 1 ]; then
  args+=("--benchmark_min_time=0.1")
else
  args+=("--benchmark_min_time=0.3")  # ~850 benchmarks: keeps the full suite near 12 minutes
fi
args+=("${extra[@]}")
runner=()
[ "$priority" = 1 ] && runner=(nice -n -10)
echo "== $bench_exe ${args[*]}"
# CPU time of other processes during the run = all busy time - the benchmark's own CPU time.
read -r -a stat0 < <(grep '^cpu ' /proc/stat 2>/dev/null || echo "cpu 0 0 0 0 0 0 0 0")
TIMEFORMAT='%3R %3U %3S'
{ time "${runner[@]}" "$bench_exe" "${args[@]}" 2>&1 | tee "$log"; } 2>"$out_dir/time.txt"
read -r -a stat1 < <(grep '^cpu ' /proc/stat 2>/dev/null || echo "cpu 0 0 0 0 0 0 0 0")
read -r wall user sys <"$out_dir/time.txt"
others=$(awk -v w="$wall" -v u="$user" -v s="$sys" -v hz="$(getconf CLK_TCK)" \
  -v n="$(nproc)" -v busy="$(( (stat1[1]+stat1[2]+stat1[3]+stat1[6]+stat1[7]+stat1[8]) - \
                              (stat0[1]+stat0[2]+stat0[3]+stat0[6]+stat0[7]+stat0[8]) ))" \
  'BEGIN { o = (busy / hz - u - s) / (w * n) * 100; if (o < 0) o = 0; printf "%.0f", o }')
echo "== run took ${wall} s; other processes used ${others}% of the CPUs meanwhile"

if [ "$report" = 1 ]; then
  plot="$(dirname "$report_file")/perf_gemv.png"
  "$python" scripts/perf_report.py "$json" --out "$report_file" --plot "$plot" \
    --build-dir build/bench \
    --command "$invocation    # runs: ${runner[*]:+${runner[*]} }$bench_exe ${args[*]}" \
    --others-busy "$others" \
    --note "other processes used ${busy}% of the CPUs just before the run, ${others}% during it"
fi
echo "== bench.sh ($suite) done in $(($(date +%s) - start)) s; results: $json"
