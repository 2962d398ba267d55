// ved's thread pool and the CPU count it sizes itself by (ved/detail/parallel.hpp).

#include "ved/detail/parallel.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace ved::detail {
namespace {

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

// A positive integer from the environment (the first entry of a list like OMP_NUM_THREADS=4,2).
int env_threads(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return 0;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  return n > 0 && n < 4096 && (*end == '\0' || *end == ',') ? static_cast<int>(n) : 0;
}

int affinity_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  const unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}

// quota / period in CPUs from a cgroup v2 cpu.max ("max 100000" or "150000 100000").
double cpu_max_quota(const std::string& path) {
  std::ifstream in(path);
  std::string quota;
  double period = 0;
  if (!(in >> quota >> period) || quota == "max" || period <= 0) return 0;
  const double q = std::atof(quota.c_str());
  return q > 0 ? q / period : 0;
}

double read_number(const std::string& path) {
  std::ifstream in(path);
  double v = 0;
  return in >> v ? v : 0;
}

}  // namespace

double cgroup_cpu_quota(const std::string& proc_cgroup, const std::string& root) {
  std::ifstream self(proc_cgroup);
  std::string line;
  double best = 0;
  auto consider = [&](double q) {
    if (q > 0 && (best == 0 || q < best)) best = q;
  };
  while (std::getline(self, line)) {
    // "hierarchy-id:controllers:path"
    const size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1);
    std::string path = line.substr(b + 1);
    if (controllers.empty()) {  // cgroup v2
      for (;;) {
        consider(cpu_max_quota(root + path + "/cpu.max"));
        if (path.empty() || path == "/") break;
        path = path.substr(0, path.rfind('/'));
      }
      consider(cpu_max_quota(root + "/cpu.max"));
      continue;
    }
    std::stringstream list(controllers);
    std::string c;
    bool cpu = false;
    while (std::getline(list, c, ',')) cpu = cpu || c == "cpu";
    if (!cpu) continue;
    for (const std::string& mount : {root + "/cpu,cpuacct", root + "/cpu"}) {
      for (const std::string& dir : {mount + path, mount}) {
        const double quota = read_number(dir + "/cpu.cfs_quota_us");
        const double period = read_number(dir + "/cpu.cfs_period_us");
        if (quota > 0 && period > 0) consider(quota / period);
      }
    }
  }
  return best;
}

int64_t run_delay_ns(const std::string& schedstat) {
  // read(2) rather than a stream: the loops' caller reads it every 10 ms.
  const int fd = ::open(schedstat.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char text[128];
  const ssize_t n = ::read(fd, text, sizeof text - 1);
  ::close(fd);
  if (n <= 0) return -1;
  text[n] = '\0';
  long long on_cpu = 0, delay = 0;
  return std::sscanf(text, "%lld %lld", &on_cpu, &delay) == 2 && delay >= 0 ? delay : -1;
}

namespace {

int compute_available_cpus() {
  for (const char* name : {"VED_NUM_THREADS", "OMP_NUM_THREADS"})
    if (const int n = env_threads(name)) return n;
  int n = affinity_cpus();
  const double quota = cgroup_cpu_quota("/proc/self/cgroup", "/sys/fs/cgroup");
  if (quota > 0) n = std::min(n, std::max(1, static_cast<int>(quota)));
  return std::max(1, n);
}

thread_local bool t_in_region = false;

// A child of fork() has none of the parent's workers: it runs every loop serially.
std::atomic<bool> g_forked{false};

class Pool {
  using Clock = std::chrono::steady_clock;

 public:
  static Pool& instance() {
    // Never destroyed: workers may still be asleep at exit, and a static destructor joining them
    // could run while another static is being torn down.
    static Pool* pool = [] {
      pthread_atfork(nullptr, nullptr, [] { g_forked.store(true); });
      return new Pool();
    }();
    return *pool;
  }

  bool contended() const {
    return Clock::now().time_since_epoch().count() < busy_until_.load(std::memory_order_relaxed);
  }

  void run(int64_t chunks, void (*chunk)(void*, int64_t), void* ctx, int threads) {
    std::unique_lock<std::mutex> busy(run_mutex_, std::try_to_lock);
    if (!busy.owns_lock() || g_forked.load(std::memory_order_relaxed) || chunks >= kMaxChunks) {
      serial(chunks, chunk, ctx);
      return;
    }
    start_workers(threads - 1);
    watch_contention();
    fn_ = chunk;
    ctx_ = ctx;
    participants_.store(threads - 1, std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    error_ = nullptr;
    epoch_ = (epoch_ + 1) & kEpochMask;
    const uint64_t state = (epoch_ << 40) | (static_cast<uint64_t>(chunks) << 20);
    state_.store(state, std::memory_order_release);
    {
      std::lock_guard<std::mutex> lock(sleep_mutex_);
      if (sleepers_ > 0) wake_.notify_all();
    }
    work(epoch_);
    // The chunks other threads claimed; a descheduled holder is waited for without spinning.
    for (int spins = 0; done_.load(std::memory_order_acquire) < chunks; ++spins) {
      if (spins < 1024)
        cpu_relax();
      else
        std::this_thread::yield();
    }
    if (error_) std::rethrow_exception(error_);
  }

 private:
  // state_: epoch (24 bits) | chunks (20 bits) | next chunk to hand out (20 bits), so that a
  // claim checks the loop it belongs to and its bound in one atomic step.
  static constexpr uint64_t kEpochMask = (uint64_t{1} << 24) - 1;
  static constexpr int64_t kMaxChunks = int64_t{1} << 20;

  static void serial(int64_t chunks, void (*chunk)(void*, int64_t), void* ctx) {
    t_in_region = true;
    try {
      for (int64_t c = 0; c < chunks; ++c) chunk(ctx, c);
    } catch (...) {
      t_in_region = false;
      throw;
    }
    t_in_region = false;
  }

  bool claim(uint64_t epoch, int64_t* index) {
    uint64_t s = state_.load(std::memory_order_acquire);
    for (;;) {
      const uint64_t chunks = (s >> 20) & (kMaxChunks - 1), next = s & (kMaxChunks - 1);
      if ((s >> 40) != epoch || next >= chunks) return false;
      if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel)) {
        *index = static_cast<int64_t>(next);
        return true;
      }
    }
  }

  // Runs chunks of loop `epoch` until none is left. A claimed chunk keeps its loop (and fn_,
  // ctx_) alive: run() returns only after every claimed chunk is done.
  void work(uint64_t epoch) {
    t_in_region = true;
    int64_t c;
    while (claim(epoch, &c)) {
      try {
        fn_(ctx_, c);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex_);
        if (!error_) error_ = std::current_exception();
      }
      done_.fetch_add(1, std::memory_order_acq_rel);
    }
    t_in_region = false;
  }

  void start_workers(int n) {
    while (static_cast<int>(workers_.size()) < n) {
      const int index = static_cast<int>(workers_.size());
      workers_.emplace_back([this, index] { worker(index); });
      workers_.back().detach();
    }
  }

  void worker(int index) {
    uint64_t seen = 0;
    for (;;) {
      uint64_t epoch = state_.load(std::memory_order_acquire) >> 40;
      // Loops of a decode step follow each other within microseconds: spin for a while before
      // sleeping, but only briefly, so an idle worker never holds a core another process needs;
      // on a busy machine, hardly at all (see watch_contention).
      const auto deadline = Clock::now() + std::chrono::microseconds(contended() ? 5 : 50);
      for (int spins = 0; epoch == seen; ++spins) {
        cpu_relax();
        if (spins % 64 == 63 && Clock::now() > deadline) break;
        epoch = state_.load(std::memory_order_acquire) >> 40;
      }
      if (epoch == seen) {
        std::unique_lock<std::mutex> lock(sleep_mutex_);
        ++sleepers_;
        wake_.wait(lock, [&] {
          epoch = state_.load(std::memory_order_acquire) >> 40;
          return epoch != seen;
        });
        --sleepers_;
      }
      seen = epoch;
      if (index < participants_.load(std::memory_order_relaxed)) work(epoch);
    }
  }

  // Whether another process competes for the cores: the share of the time since the caller's
  // last look (at most every 10 ms) that it spent runnable but without a CPU (Linux's schedstat
  // run delay). Over a quarter, and for 100 ms after, idle workers spin 5 us instead of 50 before
  // they sleep: on a shared core a spinning worker spends its turn on nothing, and the next loop
  // then waits for its next turn. With one busy neighbour on a 2-core Intel VM (three rounds
  // each), a decoder step of nougat-base took 54-55 ms this way against 61-62 ms spinning 50 us
  // and 62-63 ms on one thread; vit-gpt2's 36-37 ms against 39-41 and 42-43. On an idle machine
  // 5 us cost 5-8% (vit-gpt2, trocr-small: a loop then often waits for a worker to wake), hence
  // the switch; idle callers waited under 5% of any 10 ms. Where the file cannot be read (other
  // systems), workers always spin 50 us.
  void watch_contention() {
    struct Look {
      Clock::time_point at{};
      int64_t delay = -1;
    };
    thread_local Look last;
    const Clock::time_point now = Clock::now();
    if (now - last.at < std::chrono::milliseconds(10)) return;
    const int64_t delay = run_delay_ns("/proc/thread-self/schedstat");
    const double waited = static_cast<double>(delay - last.delay);
    if (delay >= 0 && last.delay >= 0 &&
        waited > 0.25 * std::chrono::duration<double, std::nano>(now - last.at).count())
      busy_until_.store((now + std::chrono::milliseconds(100)).time_since_epoch().count(),
                        std::memory_order_relaxed);
    last = {now, delay};
  }

  std::atomic<Clock::rep> busy_until_{0};
  std::mutex run_mutex_;  // one loop at a time; a second caller runs its loop serially
  std::atomic<uint64_t> state_{0};
  uint64_t epoch_ = 0;
  void (*fn_)(void*, int64_t) = nullptr;
  void* ctx_ = nullptr;
  std::atomic<int> participants_{0};
  std::atomic<int64_t> done_{0};
  std::mutex error_mutex_;
  std::exception_ptr error_;
  std::mutex sleep_mutex_;
  std::condition_variable wake_;
  int sleepers_ = 0;
  std::vector<std::thread> workers_;
};

}  // namespace

int available_cpus() {
  static const int n = compute_available_cpus();
  return n;
}

bool in_parallel_region() {
  return t_in_region;
}

bool cpus_contended() {
  return Pool::instance().contended();
}

void parallel_run(int64_t chunks, void (*chunk)(void*, int64_t), void* ctx, int threads) {
  Pool::instance().run(chunks, chunk, ctx, threads);
}

}  // namespace ved::detail
