#pragma once

// ved's parallel loops run on its own thread pool (src/parallel.cpp), not OpenMP: on a machine
// that is also running other work, OpenMP's static split and spinning barriers let one
// descheduled thread stall every other (a 4-beam decode took 33x its idle time with three busy
// neighbours), and its spin policy cannot be changed from inside a process once it has started.
// The pool hands out small chunks of a loop from an atomic counter, so a thread that loses its
// core delays only the chunk it holds; idle workers spin for a few tens of microseconds (decode
// steps start loops every few microseconds) and then sleep, after only 5 us while other processes
// compete for the cores.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>

namespace ved {
namespace detail {

// 0 = the default (available_cpus()). A global, so that a setting made on one thread also holds
// for models run on others.
inline std::atomic<int>& requested_threads() {
  static std::atomic<int> n{0};
  return n;
}

// The CPUs this process may use: its affinity mask (taskset, cpusets), capped by a cgroup CPU
// quota (cgroup v2 cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us) rounded down, at least 1.
// VED_NUM_THREADS, else OMP_NUM_THREADS, overrides it when set to a positive integer. Computed
// once.
int available_cpus();

// The tightest CPU quota, in CPUs (0 for none), of the cgroups that `proc_cgroup` (the format of
// /proc/self/cgroup) names under `root` (/sys/fs/cgroup): v2 cpu.max of the cgroup and every
// ancestor, v1 cpu.cfs_quota_us / cpu.cfs_period_us. Inside a container the cgroup's own path
// may not exist (the container sees its cgroup as the root), so the root's files count too.
double cgroup_cpu_quota(const std::string& proc_cgroup, const std::string& root);

inline int max_threads() {
  const int n = requested_threads().load(std::memory_order_relaxed);
  return n > 0 ? n : available_cpus();
}

// The time a thread has spent runnable but waiting for a CPU, in ns, from a file in the format of
// Linux's /proc/thread-self/schedstat ("time-on-cpu run-delay timeslices"); -1 where it cannot be
// read.
int64_t run_delay_ns(const std::string& schedstat);

// Whether the pool's callers lately waited for a CPU (other processes compete for the cores), in
// which case its idle workers sleep almost at once.
bool cpus_contended();

// Whether the calling thread is running a chunk of a parallel loop.
bool in_parallel_region();

// Runs chunk(ctx, c) for c in [0, chunks) on up to `threads` threads, the caller among them;
// returns when all are done. The first exception a chunk throws is rethrown here (the other
// chunks still run). Another thread's loop running at the same time makes this one serial.
void parallel_run(int64_t chunks, void (*chunk)(void*, int64_t), void* ctx, int threads);

}  // namespace detail

// Runs f(i) for i in [begin, end). Loops of at most `grain` iterations, and loops reached from
// inside another parallel loop, run serially: nested loops would oversubscribe the cores and
// tiny loops cost more to hand out than to run. Every i is one independent piece of output, so
// which thread runs it never changes a result.
template <typename F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, F&& f) {
  if (end <= begin) return;
  const int64_t n = end - begin;
  const int threads = detail::max_threads();
  if (n <= grain || threads <= 1 || detail::in_parallel_region()) {
    for (int64_t i = begin; i < end; ++i) f(i);
    return;
  }
  // Up to 8 chunks per thread: a thread that is descheduled holds back an eighth of its share.
  struct Loop {
    F* f;
    int64_t begin, n, chunks;
  } loop{&f, begin, n, std::min<int64_t>(n, int64_t{8} * threads)};
  detail::parallel_run(
      loop.chunks,
      [](void* p, int64_t c) {
        const Loop& l = *static_cast<const Loop*>(p);
        const int64_t lo = l.begin + l.n * c / l.chunks, hi = l.begin + l.n * (c + 1) / l.chunks;
        for (int64_t i = lo; i < hi; ++i) (*l.f)(i);
      },
      &loop, threads);
}

}  // namespace ved
