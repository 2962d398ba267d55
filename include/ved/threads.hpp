#pragma once

// How many threads ved's kernels use, like torch.set_num_threads: one process-wide setting, since
// the cores are a process-wide resource. Results never depend on it: every parallel loop splits
// independent outputs, never a reduction.

#include "ved/detail/parallel.hpp"
#include "ved/error.hpp"

#include <string>

namespace ved {

// n >= 1 threads, or 0 for the default: VED_NUM_THREADS (else OMP_NUM_THREADS) when set, else
// the CPUs this process may use (its affinity mask, capped by a cgroup CPU quota rounded down).
// Thread-safe, but a change only reaches kernels that start after it.
inline void set_num_threads(int n) {
  if (n < 0) throw InvalidArgument("set_num_threads: " + std::to_string(n) + " is negative");
  detail::requested_threads().store(n, std::memory_order_relaxed);
}

// The instruction set of the matrix kernels in use: "avx512 (bf16, vnni)" (or either extension
// alone: bf16 and int8 weights then use vdpbf16ps / vpdpbusd), "avx512", "avx2" or "generic".
// The widest this CPU runs is chosen when first needed; the environment variable
// VED_ISA=generic|avx2|avx512 asks for a lower one (never a higher one: a path the CPU lacks is not
// taken), and an unknown value makes every product throw InvalidArgument naming it.
const char* kernel_isa();

// The number of threads kernels use now.
inline int num_threads() {
  return detail::max_threads();
}

}  // namespace ved
