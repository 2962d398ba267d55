#pragma once

#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ved {

// Runs f(i) for i in [begin, end). Loops shorter than `grain` iterations, and loops reached from
// inside another parallel region, run serially: nested OpenMP teams oversubscribe the cores and
// tiny loops cost more to fork than to run.
template <typename F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, F&& f) {
  if (end <= begin) return;
#ifdef _OPENMP
  if (end - begin > grain && omp_get_max_threads() > 1 && !omp_in_parallel()) {
#pragma omp parallel for schedule(static)
    for (int64_t i = begin; i < end; ++i) f(i);
    return;
  }
#else
  (void)grain;
#endif
  for (int64_t i = begin; i < end; ++i) f(i);
}

}  // namespace ved
