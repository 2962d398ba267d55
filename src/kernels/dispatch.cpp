// Chooses the kernel set once: the widest this CPU runs, or a lower one that VED_ISA asks for.

#include <cstdlib>
#if defined(VED_HAVE_X86_KERNELS)
#include <cpuid.h>
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
// The AVX-512 set with the dot-product extensions this CPU has, if any.
const KernelSet* best_avx512() {
  if (const KernelSet* s = avx512_reduced_kernels(cpu_has_avx512_bf16(), cpu_has_avx512_vnni()))
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
  if (want != "best" && want != "generic" && want != "avx2" && want != "avx512")
    throw InvalidArgument("VED_ISA='" + want + "': expected generic, avx2 or avx512");
#if defined(VED_HAVE_X86_KERNELS)
  // A path the CPU lacks is never taken: VED_ISA only lowers the choice.
  if ((want == "best" || want == "avx512") && cpu_has_avx512()) return *best_avx512();
  if ((want == "best" || want == "avx512" || want == "avx2") && cpu_has_avx2())
    return *avx2_kernels();
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
    if (best_avx512() != avx512_kernels()) sets.push_back(best_avx512());
  }
#endif
  return sets;
}

}  // namespace nn::kernels

const char* kernel_isa() {
  return nn::kernels::chosen().name;
}

namespace nn {

void multiply(const WeightView& w, const float* x, int64_t M, float* y) {
  kernels::chosen().multiply(w, x, M, y);
}

void softmax_scores(float* s, int64_t n, float scale, const float* bias, const float* bias2) {
  kernels::chosen().softmax(s, n, scale, bias, bias2);
}

void layer_norm_row(const float* x, float* y, int64_t d, const float* weight, const float* bias,
                    float eps) {
  kernels::chosen().layer_norm(x, y, d, weight, bias, eps);
}

void gelu_erf(float* p, int64_t n) {
  kernels::chosen().gelu(p, n);
}

}  // namespace nn
}  // namespace ved
