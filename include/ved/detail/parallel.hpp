#pragma once

#include <atomic>
#include <cstdint>

#include <Eigen/Core>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ved {
namespace detail {

// 0 = the OpenMP default. A global rather than OpenMP's per-thread ICV, so that a setting made on
// one thread also holds for models run on others.
inline std::atomic<int>& requested_threads() {
  static std::atomic<int> n{0};
  return n;
}

inline int default_threads() {
#ifdef _OPENMP
  static const int n = omp_get_max_threads();
  return n;
#else
  return 1;
#endif
}

inline int max_threads() {
  const int n = requested_threads().load(std::memory_order_relaxed);
  return n > 0 ? n : default_threads();
}

}  // namespace detail

// Runs f(i) for i in [begin, end). Loops shorter than `grain` iterations, and loops reached from
// inside another parallel region, run serially: nested OpenMP teams oversubscribe the cores and
// tiny loops cost more to fork than to run.
template <typename F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, F&& f) {
  if (end <= begin) return;
#ifdef _OPENMP
  const int threads = detail::max_threads();
  if (end - begin > grain && threads > 1 && !omp_in_parallel()) {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = begin; i < end; ++i) f(i);
    return;
  }
#else
  (void)grain;
#endif
  for (int64_t i = begin; i < end; ++i) f(i);
}

}  // namespace ved
