#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Turns the JSON of one `ternary_bench` run into docs/PERFORMANCE.md and docs/perf_gemv.png.

Every number in the report is a ratio or a rate from that one run (the roofline, the Eigen
baseline and the vpdpbusd peak are measured next to the kernels), so reports from different
runs or machines are compared by their ratios, never by absolute times.

    scripts/perf_report.py build/bench/bench-results.json \
        --out docs/PERFORMANCE.md --plot docs/perf_gemv.png --command "scripts/bench.sh"

Only the standard library is required; the plot uses matplotlib, or gnuplot when matplotlib is
missing, and is left out (with a note in the report) when neither is installed.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from collections import defaultdict

FORMATS = ["bits2", "base3", "sherry", "bits2_g128", "bits2_2plane"]
FORMAT_DESC = {
    "bits2": "2-bit, per-row scales",
    "base3": "base-3 (1.6 bit), per-row scales",
    "sherry": "Sherry 3:4 (1.25 bit), per-row scales",
    "bits2_g128": "2-bit, per-group scales (G = 128)",
    "bits2_2plane": "2-bit, two trit planes (PTQTP), per-row scales",
}
ISA_ORDER = ["avx512", "avx2", "neon", "scalar"]
# Targets were set on a Zen 5 core whose vpdpbusd zmm peak is about this many GOPS.
TARGET_PEAK_GOPS = 1000.0
# "2 threads ~2x one" is judged met at this ratio or above.
SCALING_TARGET = 1.8


# ---- Parsing -------------------------------------------------------------------------------------
class Run:
    """One benchmark result, with its name split into fields."""

    def __init__(self, b):
        name = b["name"]
        for suffix in ("/real_time", "/manual_time"):
            if name.endswith(suffix):
                name = name[: -len(suffix)]
        self.name = name
        parts = name.split("/")
        self.kind = parts[0]
        self.fields = {}
        rest = []
        for p in parts[1:]:
            m = re.fullmatch(r"(tokens|threads):(\d+)", p)
            if m:
                self.fields[m.group(1)] = int(m.group(2))
            else:
                rest.append(p)
        self.rest = rest
        self.threads = self.fields.get("threads", 1)
        self.tokens = self.fields.get("tokens", 1)
        self.error = b.get("error_occurred", False)
        self.error_message = b.get("error_message", "")
        self.label = b.get("label", "")
        self.gbps = b.get("weight_GBps")
        self.gops = b.get("GOPS")
        self.weight_bytes = b.get("weight_bytes")
        self.real_time = b.get("real_time")
        self.cpu_time = b.get("cpu_time")
        self.time_unit = b.get("time_unit", "ns")
        self.fmt = self.isa = self.shape = None
        if self.kind in ("BM_gemv", "BM_gemm", "BM_gemv_f32", "BM_gemm_f32", "BM_gemv_quant"):
            if len(rest) >= 3:
                self.fmt, self.isa, self.shape = rest[0], rest[1], rest[2]
        elif self.kind in ("BM_stream", "BM_eigen_gemv", "BM_eigen_gemm"):
            if rest:
                self.shape = rest[0]
        self.dram = " dram" in (" " + self.label)

    def seconds(self):
        scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[self.time_unit]
        return self.real_time * scale


def load_runs(path):
    with open(path) as f:
        data = json.load(f)
    benchmarks = data.get("benchmarks", [])
    # With --benchmark_repetitions, use the median aggregate; otherwise the single run.
    medians = [b for b in benchmarks if b.get("run_type") == "aggregate"
               and b.get("aggregate_name") == "median"]
    if medians:
        chosen = []
        for b in medians:
            b = dict(b)
            b["name"] = b.get("run_name", b["name"])
            chosen.append(b)
    else:
        chosen = [b for b in benchmarks if b.get("run_type", "iteration") == "iteration"]
    return data.get("context", {}), [Run(b) for b in chosen]


class Results:
    def __init__(self, runs):
        self.runs = runs
        self.ok = [r for r in runs if not r.error]
        self.by_key = {}
        for r in self.ok:
            self.by_key[(r.kind, r.fmt, r.isa, r.shape, r.tokens, r.threads)] = r
        self.shapes = []
        for r in runs:
            if r.shape and r.shape not in self.shapes and r.kind in ("BM_gemv", "BM_stream"):
                self.shapes.append(r.shape)
        self.shapes.sort(key=lambda s: tuple(int(x) for x in s.split("x")))
        self.dram_shapes = sorted({r.shape for r in self.ok if r.dram and r.shape})
        isas = {r.isa for r in runs if r.isa}
        self.isas = [i for i in ISA_ORDER if i in isas] + sorted(isas - set(ISA_ORDER))

    def get(self, kind, fmt=None, isa=None, shape=None, tokens=1, threads=1):
        return self.by_key.get((kind, fmt, isa, shape, tokens, threads))

    def stream(self, shape, nbytes, threads):
        for r in self.ok:
            if (r.kind == "BM_stream" and r.shape == shape and r.threads == threads
                    and r.weight_bytes is not None and nbytes is not None
                    and abs(r.weight_bytes - nbytes) < 0.5):
                return r
        return None

    def peak(self, threads):
        r = self.by_key.get(("BM_vpdpbusd_peak", None, None, None, 1, threads))
        return r.gops if r else None

    def is_dram(self, shape):
        return shape in self.dram_shapes


# ---- Machine -------------------------------------------------------------------------------------
def run_cmd(args, cwd=None):
    try:
        out = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=20)
        return out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def lscpu_fields():
    fields = {}
    for line in run_cmd(["lscpu"]).splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            fields[k.strip()] = v.strip()
    return fields


def amd_core_name(family, model):
    try:
        fam, mod = int(family), int(model)
    except (TypeError, ValueError):
        return ""
    if fam == 25:
        if 0x10 <= mod <= 0x1F or 0x60 <= mod <= 0x7F or 0xA0 <= mod <= 0xAF:
            return "Zen 4"
        return "Zen 3"
    if fam == 26:
        return "Zen 5"
    if fam == 23:
        return "Zen / Zen 2"
    return ""


def compiler_of(build_dir):
    cache = os.path.join(build_dir, "CMakeCache.txt") if build_dir else ""
    compiler, build_type = "", ""
    if cache and os.path.exists(cache):
        with open(cache) as f:
            for line in f:
                if line.startswith("CMAKE_CXX_COMPILER:"):
                    compiler = line.split("=", 1)[1].strip()
                elif line.startswith("CMAKE_BUILD_TYPE:"):
                    build_type = line.split("=", 1)[1].strip()
    if not compiler:
        compiler = shutil.which("c++") or "c++"
    version = run_cmd([compiler, "--version"]).splitlines()
    return (version[0] if version else compiler), build_type


def git_info(repo):
    sha = run_cmd(["git", "rev-parse", "--short=12", "HEAD"], cwd=repo)
    if not sha:
        return "unknown"
    dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--"], cwd=repo,
                           capture_output=True).returncode != 0
    return sha + (" (with uncommitted changes)" if dirty else "")


# ---- Formatting ----------------------------------------------------------------------------------
def f1(x):
    return "—" if x is None else f"{x:.1f}"


def f2(x):
    return "—" if x is None else f"{x:.2f}"


def pct(x):
    return "—" if x is None else f"{100.0 * x:.0f}%"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def mb(nbytes):
    return "—" if nbytes is None else f"{nbytes / 1e6:.1f}"


# ---- Report sections -----------------------------------------------------------------------------
def gemv_roofline_rows(res, isa, threads_list):
    rows = []
    for shape in res.shapes:
        for fmt in FORMATS:
            runs = {t: res.get("BM_gemv", fmt, isa, shape, 1, t) for t in threads_list}
            present = [r for r in runs.values() if r]
            if not present:
                continue
            nbytes = present[0].weight_bytes
            row = [shape, "DRAM" if res.is_dram(shape) else "cache", fmt, mb(nbytes)]
            for t in threads_list:
                g = runs[t]
                s = res.stream(shape, nbytes, t)
                row += [f1(g.gbps if g else None), f1(s.gbps if s else None),
                        pct(ratio(g.gbps if g else None, s.gbps if s else None))]
            rows.append(row)
    return rows


def targets(res, best, scale):
    """Rows of the Targets table: (what, measured, target, verdict)."""
    rows = []

    def verdict(value, goal):
        if value is None:
            return "not measured"
        return "**met**" if value >= goal else "missed"

    dram = res.dram_shapes[0] if res.dram_shapes else None
    # DRAM-resident GEMV vs the roofline.
    for threads, goals in ((1, {"bits2": 0.90, "base3": 0.85, "sherry": 0.85}),
                           (2, {f: 0.90 for f in FORMATS})):
        for fmt, goal in goals.items():
            g = res.get("BM_gemv", fmt, best, dram, 1, threads) if dram else None
            s = res.stream(dram, g.weight_bytes, threads) if g else None
            r = ratio(g.gbps if g else None, s.gbps if s else None)
            rows.append([f"GEMV {dram or 'DRAM shape'} (DRAM), {threads} thread{'s' * (threads > 1)}, "
                         f"{fmt}, int8: % of streaming roofline",
                         pct(r), f"≥ {goal * 100:.0f}%", verdict(r, goal)])
    # Cache-resident GEMV GOPS.
    for fmt, base in (("bits2", 400), ("base3", 300), ("sherry", 300)):
        g = res.get("BM_gemv", fmt, best, "2560x2560", 1, 1)
        goal = base * scale if scale else None
        rows.append([f"GEMV 2560x2560 (cache), 1 thread, {fmt}, int8: GOPS", f1(g.gops if g else None),
                     f"≥ {base}·scale = {f1(goal)}", verdict(g.gops if g else None, goal)
                     if goal else "no peak measured"])
    # GEMM 128 tokens.
    for fmt, base in (("bits2", 500), ("base3", 350), ("sherry", 350)):
        g = res.get("BM_gemm", fmt, best, "2560x2560", 128, 1)
        goal = base * scale if scale else None
        rows.append([f"GEMM 2560x2560, 128 tokens, 1 thread, {fmt}, int8: GOPS",
                     f1(g.gops if g else None), f"≥ {base}·scale = {f1(goal)}",
                     verdict(g.gops if g else None, goal) if goal else "no peak measured"])
    for fmt in ("bits2", "base3", "sherry"):
        g1 = res.get("BM_gemm", fmt, best, "2560x2560", 128, 1)
        g2 = res.get("BM_gemm", fmt, best, "2560x2560", 128, 2)
        r = ratio(g2.gops if g2 else None, g1.gops if g1 else None)
        rows.append([f"GEMM 2560x2560, 128 tokens, {fmt}: 2-thread / 1-thread GOPS",
                     f2(r) + ("×" if r else ""), f"≈ 2× (≥ {SCALING_TARGET}×)",
                     verdict(r, SCALING_TARGET)])
    # Float GEMV vs Eigen on the DRAM shape.
    e = res.get("BM_eigen_gemv", None, None, dram, 1, 1) if dram else None
    for fmt in ("bits2", "base3", "sherry"):
        g = res.get("BM_gemv_f32", fmt, best, dram, 1, 1) if dram else None
        r = ratio(e.seconds() if e else None, g.seconds() if g else None)
        rows.append([f"fp32 GEMV {dram or 'DRAM shape'}, 1 thread, {fmt}: speed-up over Eigen fp32 GEMV",
                     f2(r) + ("×" if r else ""), "≥ 3×", verdict(r, 3.0)])
    return rows


def build_report(ctx, res, args):
    best = ctx.get("ternary_best_isa") or (res.isas[0] if res.isas else "scalar")
    lscpu = lscpu_fields()
    model = lscpu.get("Model name", platform.processor() or "unknown")
    family, cpu_model = lscpu.get("CPU family", "?"), lscpu.get("Model", "?")
    core = amd_core_name(family, cpu_model) if "AMD" in lscpu.get("Vendor ID", "") else ""
    compiler, build_type = compiler_of(args.build_dir)
    peak1, peak2 = res.peak(1), res.peak(2)
    scale = peak1 / TARGET_PEAK_GOPS if peak1 else None
    threads_list = sorted({r.threads for r in res.ok if r.kind == "BM_gemv"}) or [1]
    load = ctx.get("load_avg")
    errors = [r for r in res.runs if r.error]
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    L = []
    L.append("# Performance of Ternary Engine")
    L.append("")
    L.append("Generated by `scripts/perf_report.py` from one run of `ternary_bench`; do not edit by "
             "hand (except the Analysis section). Every figure below is a rate or a ratio measured in "
             "that same run: compare ratios across machines and runs, not absolute times.")
    L.append("")
    L.append("## Machine and run")
    L.append("")
    caches = []
    for c in ctx.get("caches", []):
        if c.get("type") == "Instruction":
            continue
        size = c.get("size", 0)
        size_s = f"{size >> 20} MiB" if size >= (1 << 20) else f"{size >> 10} KiB"
        share = c.get("num_sharing", 1)
        caches.append(f"L{c.get('level')} {size_s}" +
                      (" per core" if share <= 1 else f" shared by {share} CPUs"))
    if not caches:
        caches = [f"{k.split()[0]} {lscpu[k]}" for k in ("L1d cache", "L2 cache", "L3 cache")
                  if k in lscpu]
    rows = [
        ["CPU", f"{model} (family {family}, model {cpu_model}{', ' + core if core else ''})"],
        ["cores", f"{lscpu.get('CPU(s)', '?')} logical, {lscpu.get('Thread(s) per core', '?')} "
                  f"thread(s) per core"],
        ["caches", ", ".join(caches) or "?"],
        ["kernel", f"{platform.system()} {platform.release()}"],
        ["compiler", f"{compiler}{' (' + build_type + ')' if build_type else ''}"],
        ["git", git_info(args.repo)],
        ["date", f"{ctx.get('date', '?')} (report written {now})"],
        ["suite", f"{ctx.get('ternary_suite', '?')}; ISAs {ctx.get('ternary_isas', '?')} "
                  f"(best: {best}); library {ctx.get('ternary_version', '?')}"],
        ["load average at start", ", ".join(f"{x:.2f}" for x in load) if load else "?"],
    ]
    if args.note:
        rows.append(["note", args.note])
    L.append(table(["", ""], rows))
    L.append("")
    L.append("Command:")
    L.append("")
    L.append("```sh")
    L.append(args.command or "scripts/bench.sh")
    L.append("```")
    L.append("")
    L.append("Reproduce with `scripts/bench.sh` (full suite, < 20 min on 2 cores) or "
             "`scripts/bench.sh --quick` (< 3 min); a subset with `scripts/bench.sh -- "
             "--benchmark_filter=<regex>`. The raw JSON lies in `build/bench/results/`; "
             "`scripts/perf_report.py <json>` rewrites this file from it, keeping the Analysis "
             "section. Benchmark sources: `bench/` (names and counters in "
             "`bench/bench_common.hpp`).")
    L.append("")
    if args.others_busy is not None:
        noisy = args.others_busy >= 5
        why = f"other processes used {args.others_busy:.0f}% of the CPU time during the run"
    else:
        noisy = bool(load and load[0] > 1.0)
        why = f"the 1-minute load average was {load[0]:.2f} when the run started" if load else ""
    # A one-thread benchmark whose CPU time falls well short of its wall time was preempted.
    single = [r for r in res.ok if r.threads == 1 and r.real_time and r.cpu_time is not None]
    preempted = [r for r in single if r.cpu_time < 0.9 * r.real_time]
    if noisy or preempted:
        L.append(f"> **Noise warning:** {why + ': t' if noisy else 'T'}he benchmarks shared the "
                 "cores with other work, which disturbs two-thread results most (a helper thread "
                 "waits for a core). "
                 f"{len(preempted)} of {len(single)} one-thread benchmarks lost more than 10% of "
                 "their wall time to other processes (CPU time < 0.9 × real time). Re-run on an "
                 "idle machine before drawing conclusions.")
        L.append("")
    if ctx.get("library_build_type") == "debug":
        L.append("> Google Benchmark reports its own library as a debug build (Debian's package); "
                 "that affects only its bookkeeping between runs, not the timed loops.")
        L.append("")

    # Targets.
    L.append("## Targets")
    L.append("")
    if peak1:
        L.append(f"The compute targets were set on a Zen 5 core whose AVX-512 VNNI `vpdpbusd zmm` "
                 f"peak is about {TARGET_PEAK_GOPS:.0f} GOPS. This machine is "
                 f"{'a ' + core if core else 'a different CPU'} (family {family}, model {cpu_model}; "
                 f"Zen 4 runs 512-bit VNNI as two 256-bit halves) whose measured peak in this run is "
                 f"**{peak1:.0f} GOPS per core**, so GOPS targets are multiplied by "
                 f"**scale = {peak1:.0f} / {TARGET_PEAK_GOPS:.0f} = {scale:.3f}**. Bandwidth targets "
                 "(% of roofline) and ratios are not scaled.")
    else:
        L.append("No `vpdpbusd` peak was measured (no AVX-512 VNNI): GOPS targets cannot be scaled "
                 "and are reported as not measured.")
    L.append("")
    L.append(table(["target", "measured", "goal", "status"], targets(res, best, scale)))
    L.append("")
    L.append("GEMV rows use pre-quantized int8 activations (`activations::int8`), the kernel "
             f"of the best ISA ({best}); GEMM targets are judged on 2560x2560.")
    L.append("")

    # Peak.
    L.append("## vpdpbusd peak")
    L.append("")
    L.append(table(["threads", "GOPS", "per core"],
                   [[t, f1(p), f1(p / t if p else None)] for t, p in ((1, peak1), (2, peak2))
                    if p is not None] or [["—", "not measured", "—"]]))
    L.append("")
    L.append("16 independent zmm accumulators kept in registers; 128 operations (64 multiplies, 64 "
             "adds) per instruction.")
    L.append("")

    # GEMV vs roofline.
    L.append(f"## GEMV weight bandwidth vs the streaming roofline ({best}, int8 activations)")
    L.append("")
    L.append("Weight GB/s = `packed_matrix::weight_bytes()` / time (1 GB = 10⁹ B). Roofline = a plain "
             "C++ loop summing 64-bit words over the same number of bytes, from the same residency, "
             "on the same number of threads (two threads: one half each), compiled without AVX2/"
             "AVX-512 flags. DRAM-resident shapes rotate over copies totalling "
             f"{int(ctx.get('ternary_dram_rotation_bytes', 0)) >> 20} MiB; cache-resident shapes "
             "re-read one copy, so their roofline is a cache bandwidth that a wide-vector kernel can "
             "exceed (above 100%).")
    L.append("")
    hdr = ["shape", "where", "format", "MB"]
    for t in threads_list:
        hdr += [f"GB/s {t}T", f"roofline {t}T", f"% {t}T"]
    L.append(table(hdr, gemv_roofline_rows(res, best, threads_list)))
    L.append("")
    if args.plot_rel:
        if args.plot_made:
            L.append(f"![GEMV weight GB/s against the roofline]({args.plot_rel})")
        else:
            L.append(f"(No plot: {args.plot_note})")
        L.append("")

    # GOPS.
    L.append("## GOPS, cache-resident (2560x2560)")
    L.append("")
    rows = []
    for fmt in FORMATS:
        v = [res.get("BM_gemv", fmt, best, "2560x2560", 1, t) for t in threads_list]
        m = [res.get("BM_gemm", fmt, best, "2560x2560", 128, t) for t in threads_list]
        if not any(v) and not any(m):
            continue
        row = [fmt] + [f1(x.gops if x else None) for x in v] + [f1(x.gops if x else None) for x in m]
        if scale:
            row.append(pct(ratio(v[0].gops if v[0] else None, peak1)))
            row.append(pct(ratio(m[0].gops if m[0] else None, peak1)))
        rows.append(row)
    hdr = ["format"] + [f"GEMV {t}T" for t in threads_list] + \
          [f"GEMM 128 tok {t}T" for t in threads_list]
    if scale:
        hdr += ["GEMV 1T % of peak", "GEMM 1T % of peak"]
    L.append(table(hdr, rows))
    L.append("")
    L.append("GOPS = 2·N·K·tokens / time (a multiply and an add per weight and token).")
    L.append("")

    # GEMM / GEMV ratio.
    tokens_list = sorted({r.tokens for r in res.ok if r.kind == "BM_gemm" and r.isa == best})
    if tokens_list:
        L.append(f"## GEMM / GEMV throughput ({best}, int8, GOPS ratio, 1 thread)")
        L.append("")
        L.append("How much a batch of tokens gains from reusing decoded weights: GEMM GOPS over "
                 "GEMV GOPS on the same shape and format (1.0 = no reuse at all).")
        L.append("")
        rows = []
        for shape in res.shapes:
            for fmt in FORMATS:
                v = res.get("BM_gemv", fmt, best, shape, 1, 1)
                cells = [res.get("BM_gemm", fmt, best, shape, t, 1) for t in tokens_list]
                if not v or not any(cells):
                    continue
                rows.append([shape, fmt, f1(v.gops)] +
                            [(f"{f1(c.gops)} ({f2(ratio(c.gops, v.gops))}×)" if c else "—")
                             for c in cells])
        L.append(table(["shape", "format", "GEMV GOPS"] +
                       [f"GEMM {t} tok GOPS (ratio)" for t in tokens_list], rows))
        L.append("")
        rows = []
        for shape in res.shapes:
            for fmt in FORMATS:
                cells = [(res.get("BM_gemm", fmt, best, shape, t, 1),
                          res.get("BM_gemm", fmt, best, shape, t, 2)) for t in tokens_list]
                if not any(a and b for a, b in cells):
                    continue
                rows.append([shape, fmt] + [(f2(ratio(b.gops, a.gops)) + "×") if a and b else "—"
                                            for a, b in cells])
        if rows:
            L.append("Two-thread scaling of GEMM (2-thread GOPS / 1-thread GOPS):")
            L.append("")
            L.append(table(["shape", "format"] + [f"{t} tok" for t in tokens_list], rows))
            L.append("")

    # Float vs Eigen.
    L.append(f"## fp32 activations vs Eigen fp32 ({best})")
    L.append("")
    L.append("Speed-up = Eigen time / Ternary Engine time on the same shape and thread count; "
             "`act_path::f32` (`activations::f32`). Eigen: row-major `MatrixXf` weights, "
             "`-march=native`; its GEMV is single-threaded, so its two-thread GEMV splits rows in "
             "two OpenMP halves; its GEMM threads with `setNbThreads`. fp32 weights are 16× the "
             "bytes of 2-bit ones, so they may leave cache where the ternary ones do not.")
    L.append("")
    rows = []
    for shape in res.shapes:
        for t in threads_list:
            e = res.get("BM_eigen_gemv", None, None, shape, 1, t)
            if not e:
                continue
            cells = []
            for fmt in FORMATS:
                g = res.get("BM_gemv_f32", fmt, best, shape, 1, t)
                cells.append((f2(ratio(e.seconds(), g.seconds())) + "×") if g else "—")
            rows.append([shape, t, f"{e.seconds() * 1e3:.3f}", f1(e.gbps)] + cells)
    L.append("GEMV:")
    L.append("")
    L.append(table(["shape", "threads", "Eigen ms", "Eigen GB/s"] + FORMATS, rows))
    L.append("")
    rows = []
    for shape in res.shapes:
        for tok in sorted({r.tokens for r in res.ok if r.kind == "BM_eigen_gemm"}):
            for t in threads_list:
                e = res.get("BM_eigen_gemm", None, None, shape, tok, t)
                if not e:
                    continue
                cells = []
                for fmt in FORMATS:
                    g = res.get("BM_gemm_f32", fmt, best, shape, tok, t)
                    cells.append((f2(ratio(e.seconds(), g.seconds())) + "×") if g else "—")
                rows.append([shape, tok, t, f1(e.gops)] + cells)
    if rows:
        L.append("GEMM:")
        L.append("")
        L.append(table(["shape", "tokens", "threads", "Eigen GFLOPS"] + FORMATS, rows))
        L.append("")

    # Quantization path.
    rows = []
    for shape in res.shapes:
        for t in threads_list:
            cells = []
            for fmt in FORMATS:
                q = res.get("BM_gemv_quant", fmt, best, shape, 1, t)
                p = res.get("BM_gemv", fmt, best, shape, 1, t)
                cells.append(pct(ratio(q.seconds() - p.seconds(), p.seconds())) if q and p else "—")
            if any(c != "—" for c in cells):
                rows.append([shape, t] + cells)
    if rows:
        L.append("## Cost of the fp32 → int8 path in GEMV")
        L.append("")
        L.append("Extra time of `gemv(w, x_fp32, y)` (per-token quantization inside the call) over "
                 "the same GEMV on pre-quantized int8 activations.")
        L.append("")
        L.append(table(["shape", "threads"] + FORMATS, rows))
        L.append("")

    # ISAs.
    if len(res.isas) > 1:
        L.append("## GEMV by ISA (int8, 1 thread, weight GB/s)")
        L.append("")
        rows = []
        for shape in res.shapes:
            for fmt in FORMATS:
                cells = [res.get("BM_gemv", fmt, i, shape, 1, 1) for i in res.isas]
                if any(cells):
                    rows.append([shape, fmt] + [f1(c.gbps) if c else "—" for c in cells])
        L.append(table(["shape", "format"] + res.isas, rows))
        L.append("")

    # Skipped / failed.
    if errors:
        L.append("## Skipped or failed benchmarks")
        L.append("")
        L.append(table(["benchmark", "message"],
                       [[f"`{r.name}`", r.error_message] for r in errors]))
        L.append("")

    # Kernels.
    kernels = sorted({r.label.split(" ")[0] for r in res.ok
                      if r.kind.startswith("BM_gem") and r.label})
    if kernels:
        L.append("Kernels measured: " + ", ".join(f"`{k}`" for k in kernels) + ".")
        L.append("")

    L.append("## Formats")
    L.append("")
    L.append(table(["name", "weights"], [[f, FORMAT_DESC[f]] for f in FORMATS]))
    L.append("")

    L.append("## Analysis")
    L.append("")
    L.append(args.analysis_placeholder)
    L.append("")
    return "\n".join(L)


# ---- Plot ----------------------------------------------------------------------------------------
def plot_series(res, best):
    """[(threads, [(shape, [(fmt, gbps, roofline)])])] for the GEMV int8 runs of the best ISA."""
    out = []
    for t in sorted({r.threads for r in res.ok if r.kind == "BM_gemv"}):
        shapes = []
        for shape in res.shapes:
            cells = []
            for fmt in FORMATS:
                g = res.get("BM_gemv", fmt, best, shape, 1, t)
                s = res.stream(shape, g.weight_bytes, t) if g else None
                cells.append((fmt, g.gbps if g else 0.0, s.gbps if s else 0.0))
            if any(c[1] for c in cells):
                label = shape + (" (DRAM)" if res.is_dram(shape) else "")
                shapes.append((label, cells))
        if shapes:
            out.append((t, shapes))
    return out


def plot_matplotlib(series, path, best):
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, axes = plt.subplots(len(series), 1, figsize=(12, 4.2 * len(series)), squeeze=False)
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"]
    width = 0.16
    for ax, (threads, shapes) in zip(axes[:, 0], series):
        for fi, fmt in enumerate(FORMATS):
            xs = [si + (fi - 2) * width for si in range(len(shapes))]
            gb = [cells[fi][1] for _, cells in shapes]
            roof = [cells[fi][2] for _, cells in shapes]
            ax.bar(xs, gb, width, color=colors[fi], label=fmt)
            ax.scatter(xs, roof, marker="_", s=260, linewidths=2.2, color="black",
                       label="roofline (same bytes)" if fi == 0 else None, zorder=3)
        ax.set_xticks(range(len(shapes)))
        ax.set_xticklabels([s for s, _ in shapes])
        top = max([c[1] for _, cells in shapes for c in cells] +
                  [c[2] for _, cells in shapes for c in cells] + [1.0])
        ax.set_ylim(0, top * 1.3)  # headroom for the legend
        ax.set_ylabel("weight GB/s")
        ax.set_title(f"GEMV, int8 activations, {best}, {threads} thread{'s' * (threads > 1)}")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(ncol=6, fontsize=8, loc="upper center")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_gnuplot(series, path, best):
    import tempfile  # noqa: PLC0415

    tmp = tempfile.mkdtemp(prefix="ternary_plot_")
    script = [f"set terminal pngcairo noenhanced size 1300,{440 * len(series)} font ',9'",
              f"set output '{path}'", f"set multiplot layout {len(series)},1",
              "set style data histograms", "set style histogram clustered gap 1",
              "set style fill solid 0.9", "set ylabel 'weight GB/s'", "set grid ytics",
              "set key top right horizontal", "set boxwidth 0.9"]
    for threads, shapes in series:
        dat = os.path.join(tmp, f"t{threads}.dat")
        with open(dat, "w") as f:
            for label, cells in shapes:
                f.write('"' + label + '" ' + " ".join(f"{c[1]:.3f}" for c in cells) + " " +
                        " ".join(f"{c[2]:.3f}" for c in cells) + "\n")
        n = len(FORMATS)
        bars = ", ".join(f"'{dat}' using {i + 2}:xtic(1) title '{FORMATS[i]}'" for i in range(n))
        roofs = ", ".join(
            f"'{dat}' using ($0 + ({i} - {(n - 1) / 2.0}) / {n + 1.0}):{i + 2 + n} with points "
            f"pt 5 ps 0.6 lc rgb 'black' " + ("title 'roofline'" if i == 0 else "notitle")
            for i in range(n))
        top = max([c[1] for _, cells in shapes for c in cells] +
                  [c[2] for _, cells in shapes for c in cells] + [1.0])
        script.append(f"set xrange [-0.6:{len(shapes) - 0.4}]")
        script.append(f"set yrange [0:{top * 1.3:.3f}]")
        script.append(f"set title 'GEMV, int8 activations, {best}, {threads} thread(s)'")
        script.append(f"plot {bars}, {roofs}")
    script.append("unset multiplot")
    gp = os.path.join(tmp, "plot.gp")
    with open(gp, "w") as f:
        f.write("\n".join(script) + "\n")
    subprocess.run(["gnuplot", gp], check=True, capture_output=True)


def make_plot(res, best, path):
    """Returns (made, note)."""
    series = plot_series(res, best)
    if not series:
        return False, "no GEMV results to plot"
    try:
        plot_matplotlib(series, path, best)
        return True, "matplotlib"
    except ImportError:
        pass
    if shutil.which("gnuplot"):
        try:
            plot_gnuplot(series, path, best)
            return True, "gnuplot"
        except (OSError, subprocess.CalledProcessError) as e:
            return False, f"gnuplot failed: {e}"
    return False, ("neither matplotlib nor gnuplot is installed "
                   "(`python3 -m pip install matplotlib` or `apt-get install gnuplot`)")


ANALYSIS_PLACEHOLDER = (
    "_To be written by the kernel engineer: where each format stands against the roofline and "
    "why (decode cost per byte, instruction mix, prefetching), what limits GEMM reuse, how two "
    "threads scale, and what the next optimization is._")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json", help="Google Benchmark JSON written by ternary_bench")
    ap.add_argument("--out", default="docs/PERFORMANCE.md")
    ap.add_argument("--plot", default="docs/perf_gemv.png", help="PNG path ('' for none)")
    ap.add_argument("--command", default="", help="the command that produced the JSON")
    ap.add_argument("--build-dir", default="build/bench", help="for the compiler's name")
    ap.add_argument("--repo", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--note", default="", help="a line added to the machine table")
    ap.add_argument("--others-busy", type=float, default=None,
                    help="%% of CPU time other processes used during the run (bench.sh measures "
                         "it); 5 or more adds a noise warning")
    ap.add_argument("--reset-analysis", action="store_true",
                    help="write the placeholder Analysis section even when --out already has one "
                         "(by default an existing Analysis section is kept)")
    args = ap.parse_args(argv)

    ctx, runs = load_runs(args.json)
    if not runs:
        print(f"perf_report: no benchmarks in {args.json}", file=sys.stderr)
        return 1
    res = Results(runs)
    best = ctx.get("ternary_best_isa") or (res.isas[0] if res.isas else "scalar")

    args.analysis_placeholder = ANALYSIS_PLACEHOLDER
    if not args.reset_analysis and os.path.exists(args.out):
        with open(args.out) as f:
            old = f.read()
        m = re.search(r"^## Analysis\n(.*)\Z", old, re.S | re.M)
        if m and m.group(1).strip():
            args.analysis_placeholder = m.group(1).strip()

    args.plot_rel, args.plot_made, args.plot_note = "", False, ""
    if args.plot:
        os.makedirs(os.path.dirname(os.path.abspath(args.plot)), exist_ok=True)
        args.plot_made, args.plot_note = make_plot(res, best, args.plot)
        args.plot_rel = os.path.relpath(os.path.abspath(args.plot),
                                        os.path.dirname(os.path.abspath(args.out)))
    text = build_report(ctx, res, args)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text + "\n")
    print(f"perf_report: wrote {args.out}" +
          (f" and {args.plot} ({args.plot_note})" if args.plot_made else
           f" (no plot: {args.plot_note})" if args.plot else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
