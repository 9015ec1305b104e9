// SPDX-License-Identifier: Apache-2.0
// CPU feature detection and ISA selection. Compiled with baseline flags only: nothing here may
// execute an instruction the CPU lacks.
#include "ternary/isa.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

#include "detail/error.hpp"
#include "detail/isa_select.hpp"

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#define TERNARY_X86 1
#if defined(_MSC_VER)
#include <intrin.h>
#else
#include <cpuid.h>
#endif
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

namespace ternary {
namespace {

struct cpu_features {
  bool avx2 = false;      // AVX2 + FMA + F16C + BMI1/2, OS saves YMM
  bool avx512 = false;    // AVX-512 F/BW/VL/DQ/CD/VNNI/VBMI, OS saves ZMM
  bool avx_vnni = false;  // VEX-encoded VNNI
  bool avx512_bf16 = false;
  bool neon = false;
  bool dotprod = false;
};

#if defined(TERNARY_X86)
void cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
#if defined(_MSC_VER)
  int out[4];
  __cpuidex(out, static_cast<int>(leaf), static_cast<int>(sub));
  for (int i = 0; i < 4; ++i) r[i] = static_cast<unsigned>(out[i]);
#else
  __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
#endif
}
unsigned long long xgetbv0() {
#if defined(_MSC_VER)
  return _xgetbv(0);
#else
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<unsigned long long>(hi) << 32) | lo;
#endif
}
#endif

cpu_features detect() {
  cpu_features f;
#if defined(TERNARY_X86)
  unsigned r[4];
  cpuid(0, 0, r);
  const unsigned max_leaf = r[0];
  if (max_leaf < 7) return f;
  cpuid(1, 0, r);
  const unsigned ecx1 = r[2];
  const bool osxsave = ecx1 & (1u << 27), avx = ecx1 & (1u << 28), fma = ecx1 & (1u << 12),
             f16c = ecx1 & (1u << 29);
  if (!osxsave || !avx) return f;
  const unsigned long long xcr0 = xgetbv0();
  const bool ymm_state = (xcr0 & 0x6) == 0x6;
  const bool zmm_state = (xcr0 & 0xe6) == 0xe6;
  cpuid(7, 0, r);
  const unsigned ebx7 = r[1], ecx7 = r[2];
  const bool avx2 = ebx7 & (1u << 5), bmi1 = ebx7 & (1u << 3), bmi2 = ebx7 & (1u << 8);
  const bool f512 = ebx7 & (1u << 16), dq = ebx7 & (1u << 17), cd = ebx7 & (1u << 28),
             bw = ebx7 & (1u << 30), vl = ebx7 & (1u << 31);
  const bool vbmi = ecx7 & (1u << 1), vnni = ecx7 & (1u << 11);
  f.avx2 = ymm_state && avx2 && fma && f16c && bmi1 && bmi2;
  f.avx512 = f.avx2 && zmm_state && f512 && dq && cd && bw && vl && vbmi && vnni;
  cpuid(7, 1, r);
  f.avx_vnni = f.avx2 && (r[0] & (1u << 4));
  // TERNARY_NO_AVX512_BF16=1 hides the option so tests can run the kernels used without it.
  const char* no_bf16 = std::getenv("TERNARY_NO_AVX512_BF16");
  f.avx512_bf16 = f.avx512 && (r[0] & (1u << 5)) && !(no_bf16 && *no_bf16 && *no_bf16 != '0');
#elif defined(__aarch64__)
  f.neon = true;
#if defined(__linux__) && defined(HWCAP_ASIMDDP)
  f.dotprod = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#endif
#endif
  return f;
}

const cpu_features& features() {
  static const cpu_features f = detect();
  return f;
}

bool compiled(isa i) {
  switch (i) {
    case isa::scalar: return true;
    case isa::avx2:
#if defined(TERNARY_HAVE_ISA_AVX2)
      return true;
#else
      return false;
#endif
    case isa::avx512:
#if defined(TERNARY_HAVE_ISA_AVX512)
      return true;
#else
      return false;
#endif
    case isa::neon:
#if defined(TERNARY_HAVE_ISA_NEON)
      return true;
#else
      return false;
#endif
  }
  return false;
}

bool cpu_has(isa i) {
  const cpu_features& f = features();
  switch (i) {
    case isa::scalar: return true;
    case isa::avx2: return f.avx2;
    case isa::avx512: return f.avx512;
    case isa::neon: return f.neon && f.dotprod;  // the neon kernels are built with +dotprod
  }
  return false;
}

// The environment's choice, read once: -1 none, -2 unusable (with a saved message), else an isa.
struct env_choice {
  int value = -1;
  char message[256] = "";
};

const env_choice& env() {
  static const env_choice c = [] {
    env_choice e;
    const char* v = std::getenv("TERNARY_ISA");
    if (!v || !*v) return e;
    isa i = isa::scalar;
    if (parse_isa(v, &i) != status::ok) {
      e.value = -2;
      std::snprintf(e.message, sizeof e.message,
                    "TERNARY_ISA='%.64s' is not one of scalar, avx2, avx512, neon", v);
    } else if (!isa_available(i)) {
      e.value = -2;
      std::snprintf(e.message, sizeof e.message, "TERNARY_ISA=%s but %s; the best available is %s",
                    isa_name(i),
                    compiled(i) ? "this CPU cannot run it" : "this build does not contain it",
                    isa_name(best_isa()));
    } else {
      e.value = static_cast<int>(i);
    }
    return e;
  }();
  return c;
}

std::atomic<int> override_isa{-1};

// The ISA compute calls use (set_isa() override, else TERNARY_ISA, else the best), or -1 when
// TERNARY_ISA names one that cannot run. Records no message.
int chosen_isa() noexcept {
  const int o = override_isa.load(std::memory_order_relaxed);
  if (o >= 0) return o;
  const env_choice& e = env();
  if (e.value == -2) return -1;
  return e.value >= 0 ? e.value : static_cast<int>(best_isa());
}

}  // namespace

const char* isa_name(isa i) noexcept {
  switch (i) {
    case isa::scalar: return "scalar";
    case isa::avx2: return "avx2";
    case isa::avx512: return "avx512";
    case isa::neon: return "neon";
  }
  return "invalid_isa";
}

status parse_isa(const char* name, isa* out) noexcept {
  if (!name || !out) return detail::fail(status::null_pointer, "parse_isa: null argument");
  for (int i = 0; i < isa_count; ++i) {
    if (std::strcmp(name, isa_name(static_cast<isa>(i))) == 0) {
      *out = static_cast<isa>(i);
      return status::ok;
    }
  }
  return detail::fail(status::invalid_argument,
                      "'%.64s' is not an ISA name (scalar, avx2, avx512, neon)", name);
}

bool isa_available(isa i) noexcept { return compiled(i) && cpu_has(i); }

isa best_isa() noexcept {
  for (isa i : {isa::avx512, isa::avx2, isa::neon})
    if (isa_available(i)) return i;
  return isa::scalar;
}

status set_isa(isa i) noexcept {
  if (static_cast<int>(i) < 0 || static_cast<int>(i) >= isa_count)
    return detail::fail(status::invalid_argument, "set_isa: invalid isa id %d",
                        static_cast<int>(i));
  if (!isa_available(i))
    return detail::fail(status::unsupported, "set_isa(%s): %s; the best available is %s",
                        isa_name(i),
                        compiled(i) ? "this CPU cannot run it" : "this build does not contain it",
                        isa_name(best_isa()));
  override_isa.store(static_cast<int>(i), std::memory_order_relaxed);
  return status::ok;
}

void clear_isa_override() noexcept { override_isa.store(-1, std::memory_order_relaxed); }

isa active_isa() noexcept {
  // Not a failing call: it must leave this thread's last_error_message() alone.
  const int c = chosen_isa();
  return c < 0 ? isa::scalar : static_cast<isa>(c);
}

namespace detail {

status resolve_isa(isa* out) noexcept {
  const int c = chosen_isa();
  if (c < 0) return fail(status::unsupported, "%s", env().message);
  *out = static_cast<isa>(c);
  return status::ok;
}

bool cpu_has_avx_vnni() noexcept { return features().avx_vnni; }
bool cpu_has_avx512_bf16() noexcept { return features().avx512_bf16; }
bool cpu_has_dotprod() noexcept { return features().dotprod; }

}  // namespace detail
}  // namespace ternary
