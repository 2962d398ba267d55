// Chooses the kernel set once: the widest this CPU runs, or a lower one that VED_ISA asks for.

#include <cstdlib>
#if defined(VED_HAVE_X86_KERNELS)
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#endif
#include <string>

#include "kernels/matmul_kernels.hpp"
#include "ved/error.hpp"
#include "ved/nn/activations.hpp"
#include "ved/nn/attention.hpp"
#include "ved/nn/layer_norm.hpp"
#include "ved/threads.hpp"

namespace ved {
namespace nn::kernels {
namespace {

#if defined(VED_HAVE_X86_KERNELS)
bool cpu_has_avx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2");
}
// CPUID leaf 7: AVX512-VNNI is sub-leaf 0's ECX bit 11, AVX512-BF16 sub-leaf 1's EAX bit 5 (the
// OS's saving of the AVX-512 state is checked by cpu_has_avx512 already).
bool cpu_has_avx512_vnni() {
  unsigned a, b, c, d;
  return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (c >> 11 & 1u);
}
bool cpu_has_avx512_bf16() {
  unsigned a, b, c, d;
  return __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a >> 5 & 1u);
}
// Whether products of many rows (encoders) of bf16 and int8 weights run faster on vdpbf16ps
// than widened to f32. On AMD's Zen 4 they do: ViT's encoder took 0.072 s against f32's 0.115.
// On an Intel Xeon VM they did not (vdpbf16ps's 32 multiply-adds did not outpace two FMAs' 16):
// a 197 x 768 x 3072 product ran at 0.55x of f32's, and the vit-gpt2 encoder with bf16 weights
// took 0.239 s against f32's 0.160. Decoding, bound by reading W, uses vdpbf16ps on both. Intel
// CPUs with AMX run these GEMMs on AMX tiles instead (gemm_amx): 3x the f32 encoder there.
bool cpu_bf16_gemm_pays() {
  unsigned a, b, c, d;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return false;
  return b == 0x68747541u && d == 0x69746e65u && c == 0x444d4163u;  // "AuthenticAMD"
}
// AMX-TILE and AMX-BF16 (CPUID leaf 7 sub-leaf 0, EDX bits 24 and 22), and Linux's permission
// for this process to use the tile registers (arch_prctl ARCH_REQ_XCOMP_PERM for XTILEDATA,
// Linux 5.16 and later), asked for once: without it the first tile instruction faults. Linux
// refuses when a thread's signal stack is too small for the tile state; ved then does without.
// Once granted, every signal frame of the process carries the tile state (8 KiB more), and Linux
// refuses alternate signal stacks smaller than sysconf(_SC_SIGSTKSZ) says: VED_ISA=avx512
// leaves AMX alone.
bool cpu_has_amx_bf16() {
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d >> 24 & 1u) || !(d >> 22 & 1u)) return false;
#if defined(__linux__) && defined(SYS_arch_prctl)
  constexpr long kReqXcompPerm = 0x1023, kXtileData = 18;
  static const bool granted = syscall(SYS_arch_prctl, kReqXcompPerm, kXtileData) == 0;
  return granted;
#else
  return false;
#endif
}
// The AVX-512 set with the dot-product extensions this CPU has, if any; with `amx` false, the one
// it would have without AMX.
const KernelSet* best_avx512(bool amx = true) {
  const bool bf16 = cpu_has_avx512_bf16();
  if (const KernelSet* s =
          avx512_reduced_kernels(bf16, cpu_has_avx512_vnni(), bf16 && cpu_bf16_gemm_pays(),
                                 amx && bf16 && cpu_has_amx_bf16()))
    return s;
  return avx512_kernels();
}
bool cpu_has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("bmi2");
}
#endif

const KernelSet& choose() {
  const char* env = std::getenv("VED_ISA");
  const std::string want = env && *env ? env : "best";
  if (want != "best" && want != "generic" && want != "avx2" && want != "avx512" && want != "amx")
    throw InvalidArgument("VED_ISA='" + want + "': expected generic, avx2, avx512 or amx");
#if defined(VED_HAVE_X86_KERNELS)
  // A path the CPU lacks is never taken: VED_ISA only lowers the choice. "avx512" stops short of
  // AMX, for programs that must not have the tile state in their signal frames (see
  // cpu_has_amx_bf16).
  const bool up_to_avx512 = want == "best" || want == "amx" || want == "avx512";
  if (up_to_avx512 && cpu_has_avx512()) return *best_avx512(want != "avx512");
  if ((up_to_avx512 || want == "avx2") && cpu_has_avx2()) return *avx2_kernels();
#endif
  return generic_kernels();
}

const KernelSet& chosen() {
  static const KernelSet& set = choose();
  return set;
}

}  // namespace

std::vector<const KernelSet*> runnable_kernels() {
  std::vector<const KernelSet*> sets = {&generic_kernels()};
#if defined(VED_HAVE_X86_KERNELS)
  if (cpu_has_avx2()) sets.push_back(avx2_kernels());
  if (cpu_has_avx512()) {
    sets.push_back(avx512_kernels());
    if (best_avx512(false) != avx512_kernels()) sets.push_back(best_avx512(false));
    // The bf16 GEMM choice this CPU did not get, so that tests check both.
    if (cpu_has_avx512_bf16())
      sets.push_back(avx512_reduced_kernels(true, cpu_has_avx512_vnni(), !cpu_bf16_gemm_pays()));
    if (best_avx512() != best_avx512(false)) sets.push_back(best_avx512());  // AMX
  }
#endif
  return sets;
}

}  // namespace nn::kernels

const char* kernel_isa() {
  return nn::kernels::chosen().name;
}

namespace nn {

void multiply(const WeightView& w, const float* x, int64_t M, float* y, const Epilogue& e) {
  kernels::chosen().multiply(w, x, M, y, e);
}

void softmax_scores(float* s, int64_t n, float scale, const float* bias, const float* bias2) {
  kernels::chosen().softmax(s, n, scale, bias, bias2);
}

void attend_head(const AttentionArgs& a, int64_t h, const float* bias, const float* bias2) {
  kernels::chosen().attend(a, h, bias, bias2);
}

void attend_heads(const AttentionArgs& a, int64_t h0, int64_t h1) {
  const kernels::KernelSet& set = kernels::chosen();
  if (set.attend_heads && set.attend_heads(a, h0, h1)) return;
  for (int64_t h = h0; h < h1; ++h) set.attend(a, h, nullptr, nullptr);
}

void layer_norm_row(const float* x, float* y, int64_t d, const float* weight, const float* bias,
                    float eps) {
  kernels::chosen().layer_norm(x, y, d, weight, bias, eps);
}

void gelu_erf(float* p, int64_t n) {
  kernels::chosen().gelu(p, n);
}

void gelu_tanh(float* p, int64_t n) {
  kernels::chosen().gelu_tanh(p, n);
}

}  // namespace nn
}  // namespace ved
