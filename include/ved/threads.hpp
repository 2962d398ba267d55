#pragma once

// How many threads ved's kernels use, like torch.set_num_threads: one process-wide setting, since
// the cores are a process-wide resource. Results never depend on it: every parallel loop splits
// independent outputs, never a reduction.

#include "ved/detail/parallel.hpp"
#include "ved/error.hpp"

#include <string>

namespace ved {

// n >= 1 threads, or 0 for the default (OMP_NUM_THREADS, else one per core). Thread-safe, but
// a change only reaches kernels that start after it.
inline void set_num_threads(int n) {
  if (n < 0) throw InvalidArgument("set_num_threads: " + std::to_string(n) + " is negative");
  detail::requested_threads().store(n, std::memory_order_relaxed);
#ifdef _OPENMP
  Eigen::setNbThreads(n == 0 ? detail::default_threads() : n);
#endif
}

// The number of threads kernels use now.
inline int num_threads() {
  return detail::max_threads();
}

}  // namespace ved
