// Chooses the kernel set once: the widest this CPU runs, or a lower one that VED_ISA asks for.

#include <cstdlib>
#include <string>

#include "kernels/matmul_kernels.hpp"
#include "ved/error.hpp"
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
  if ((want == "best" || want == "avx512") && cpu_has_avx512()) return *avx512_kernels();
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
  if (cpu_has_avx512()) sets.push_back(avx512_kernels());
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

}  // namespace nn
}  // namespace ved
