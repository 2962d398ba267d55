// Results never depend on the thread count or the weight type's kernels' partitioning: a model
// large enough for every kernel to run in parallel (unlike the tiny fixtures) generates the same
// bits with 1, 2 and 3 threads, in f32, bf16 and int8.

#include <gtest/gtest.h>

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>
#include <vector>
#include "../test_util.hpp"

#include "ved/detail/parallel.hpp"
#include "ved/ved.hpp"

namespace {

// The vit-gpt2 fixture's config widened so that GEMMs, skinny products and attention all split
// across threads: 37 image tokens of width 256, a 2-layer GPT-2 of width 256 over 1000 tokens.
ved::VisionEncoderDecoderConfig widened_config() {
  const std::string path = ved::test::fixture("models/vit-gpt2/config.json");
  ved::detail::json j = ved::detail::read_json_file(path);
  auto& e = j["encoder"];
  e["hidden_size"] = 256;
  e["intermediate_size"] = 512;
  e["image_size"] = 96;
  e["patch_size"] = 16;
  auto& d = j["decoder"];
  d["n_embd"] = 256;
  d["n_inner"] = nullptr;
  d["vocab_size"] = 1000;
  return ved::VisionEncoderDecoderConfig::from_json(j, path);
}

ved::Tensor<float> random_pixels(int64_t batch) {
  ved::Tensor<float> t({batch, 3, 96, 96});
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = float((i * 7919) % 255) / 127.5f - 1.0f;
  return t;
}

ved::GenerateOutput run(const ved::VisionEncoderDecoderModel& model, int threads, int beams) {
  ved::set_num_threads(threads);
  ved::GenerationConfig g = model.generation_config();
  g.max_new_tokens = 4;
  g.min_new_tokens = 4;
  g.num_beams = beams;
  ved::GenerateOutput out = model.generate(random_pixels(2), g);
  ved::set_num_threads(0);
  return out;
}

class ThreadCount : public ::testing::TestWithParam<ved::WeightType> {};

TEST_P(ThreadCount, GivesBitIdenticalResults) {
  const ved::VisionEncoderDecoderConfig config = widened_config();
  const ved::VisionEncoderDecoderModel model(
      config,
      ved::GenerationConfig::from_file(
          ved::test::fixture("models/vit-gpt2/generation_config.json")),
      ved::WeightSource::synthetic(7), ved::ModelOptions{GetParam()});
  for (int beams : {1, 3}) {
    const ved::GenerateOutput one = run(model, 1, beams);
    ASSERT_EQ(one.sequences.size(), 2u);
    ASSERT_EQ(one.sequences[0].size(), 5u);  // the start token and 4 new ones
    for (int threads : {2, 3}) {
      const ved::GenerateOutput many = run(model, threads, beams);
      EXPECT_EQ(many.sequences, one.sequences) << threads << " threads, " << beams << " beams";
      EXPECT_EQ(many.sequences_scores, one.sequences_scores);
      EXPECT_EQ(many.token_logprobs, one.token_logprobs);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(WeightTypes, ThreadCount,
                         ::testing::Values(ved::WeightType::F32, ved::WeightType::BF16,
                                           ved::WeightType::Int8),
                         [](const auto& info) { return ved::weight_type_name(info.param); });

TEST(Threads, NegativeCountIsAnError) {
  EXPECT_THROW(ved::set_num_threads(-1), ved::InvalidArgument);
}

}  // namespace

namespace ved {
namespace {

// The pool hands out every index exactly once, whatever the thread count, and nested loops run
// serially inside the outer one.
TEST(ThreadPool, EveryIndexOnceAndNestedLoopsSerial) {
  for (int threads : {1, 2, 3, 8}) {
    set_num_threads(threads);
    for (int64_t n : {1, 2, 7, 64, 1000}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      parallel_for(0, n, 0, [&](int64_t i) {
        EXPECT_TRUE(detail::in_parallel_region() || threads == 1);
        int inner = 0;
        parallel_for(0, 4, 0, [&](int64_t) { ++inner; });  // serial: no data race on `inner`
        EXPECT_EQ(inner, 4);
        hits[static_cast<size_t>(i)].fetch_add(1);
      });
      for (const auto& h : hits) EXPECT_EQ(h.load(), 1) << "n " << n << " threads " << threads;
    }
  }
  set_num_threads(0);
}

// An exception thrown by one index reaches the caller (the other chunks still finish), and the
// pool keeps working afterwards.
TEST(ThreadPool, ExceptionsReachTheCaller) {
  set_num_threads(2);
  std::atomic<int> ran{0};
  EXPECT_THROW(parallel_for(0, 100, 0,
                            [&](int64_t i) {
                              ran.fetch_add(1);
                              if (i == 37) throw InvalidArgument("index 37");
                            }),
               InvalidArgument);
  EXPECT_GE(ran.load(), 1);
  std::atomic<int64_t> sum{0};
  parallel_for(0, 100, 0, [&](int64_t i) { sum.fetch_add(i); });
  EXPECT_EQ(sum.load(), 4950);
  set_num_threads(0);
}

// Loops started from several threads at once all complete (one runs on the pool, the others
// serially on their own thread).
TEST(ThreadPool, ConcurrentCallers) {
  set_num_threads(2);
  std::vector<std::thread> callers;
  std::atomic<int64_t> total{0};
  for (int t = 0; t < 6; ++t)
    callers.emplace_back([&] {
      for (int r = 0; r < 50; ++r) parallel_for(0, 64, 0, [&](int64_t i) { total.fetch_add(i); });
    });
  for (auto& c : callers) c.join();
  EXPECT_EQ(total.load(), int64_t{6} * 50 * (63 * 64 / 2));
  set_num_threads(0);
}

// The run delay the pool watches, from files in the format of /proc/thread-self/schedstat.
TEST(ThreadPool, RunDelayFromSchedstat) {
  test::TempDir dir;
  dir.write("ok", "123456 7890 12\n");
  EXPECT_EQ(detail::run_delay_ns(dir.file("ok")), 7890);
  dir.write("empty", "");
  dir.write("one", "123456\n");
  dir.write("text", "on-cpu delay slices\n");
  dir.write("negative", "1 -5 2\n");
  for (const char* bad : {"empty", "one", "text", "negative", "missing"})
    EXPECT_EQ(detail::run_delay_ns(dir.file(bad)), -1) << bad;
}

// Sets the affinity of every thread of this process but the caller's.
void pin_other_threads(const cpu_set_t& set) {
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    const pid_t tid = static_cast<pid_t>(std::stol(task.path().filename().string()));
    if (tid != static_cast<pid_t>(syscall(SYS_gettid))) sched_setaffinity(tid, sizeof set, &set);
  }
}

// A busy thread on the caller's own CPU makes the caller wait for it, and the pool sees that as
// competition (its workers then sleep almost at once instead of spinning 50 us). The pool's
// workers go to the other CPUs, so that only the neighbour competes with the caller.
TEST(ThreadPool, SeesAThreadCompetingForTheCallersCpu) {
  cpu_set_t saved, mine, others;
  ASSERT_EQ(sched_getaffinity(0, sizeof saved, &saved), 0);
  if (detail::run_delay_ns("/proc/thread-self/schedstat") < 0 || CPU_COUNT(&saved) < 2)
    GTEST_SKIP() << "needs /proc/thread-self/schedstat and two CPUs";
  set_num_threads(2);
  std::atomic<int64_t> sum{0};
  parallel_for(0, 64, 0, [&](int64_t i) { sum.fetch_add(i); });  // starts the workers
  CPU_ZERO(&mine);
  others = saved;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &saved)) {
      CPU_SET(cpu, &mine);
      CPU_CLR(cpu, &others);
      break;
    }
  ASSERT_EQ(sched_setaffinity(0, sizeof mine, &mine), 0);
  pin_other_threads(others);
  // Whatever earlier loops saw has expired 100 ms on, since only loops look.
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  ASSERT_FALSE(detail::cpus_contended());
  std::atomic<bool> stop{false};
  std::thread neighbour([&] {
    sched_setaffinity(0, sizeof mine, &mine);
    while (!stop.load(std::memory_order_relaxed)) {
    }
  });
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!detail::cpus_contended() && std::chrono::steady_clock::now() < give_up)
    parallel_for(0, 64, 0, [&](int64_t i) { sum.fetch_add(i); });
  const bool seen = detail::cpus_contended();
  stop = true;
  neighbour.join();
  set_num_threads(0);
  sched_setaffinity(0, sizeof saved, &saved);
  pin_other_threads(saved);
  EXPECT_TRUE(seen);
  EXPECT_GT(sum.load(), 0);
}

}  // namespace
}  // namespace ved

namespace ved {
namespace {

// The container quota path, on cgroup trees written the way Docker and systemd write them.
TEST(ThreadCount, CgroupQuotaFromV2AndV1Files) {
  test::TempDir root;
  namespace fs = std::filesystem;
  auto file = [&](const std::string& rel, const std::string& text) {
    fs::create_directories((root.path() / rel).parent_path());
    root.write(rel, text);
  };
  // v2: a 2.5-CPU limit on the service, a tighter 1.5 on its parent slice, none at the root.
  file("proc_v2", "0::/system.slice/app.service\n");
  file("v2/cpu.max", "max 100000\n");
  file("v2/system.slice/cpu.max", "150000 100000\n");
  file("v2/system.slice/app.service/cpu.max", "250000 100000\n");
  EXPECT_DOUBLE_EQ(detail::cgroup_cpu_quota(root.file("proc_v2"), root.file("v2")), 1.5);
  // No limit anywhere.
  file("v2free/cpu.max", "max 100000\n");
  EXPECT_EQ(detail::cgroup_cpu_quota(root.file("proc_v2"), root.file("v2free")), 0.0);
  // Inside a container the cgroup's own path is missing; the root's file is the container's.
  file("proc_container", "0::/docker/abc\n");
  file("v2c/cpu.max", "100000 100000\n");
  EXPECT_DOUBLE_EQ(detail::cgroup_cpu_quota(root.file("proc_container"), root.file("v2c")), 1.0);
  // v1: the cpu controller's quota and period.
  file("proc_v1", "12:memory:/x\n4:cpu,cpuacct:/docker/abc\n");
  file("v1/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "50000\n");
  file("v1/cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n");
  EXPECT_DOUBLE_EQ(detail::cgroup_cpu_quota(root.file("proc_v1"), root.file("v1")), 0.5);
  // -1 means no quota; unreadable or malformed files count as none.
  file("v1free/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "-1\n");
  file("v1free/cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n");
  EXPECT_EQ(detail::cgroup_cpu_quota(root.file("proc_v1"), root.file("v1free")), 0.0);
  file("v2bad/cpu.max", "garbage\n");
  EXPECT_EQ(detail::cgroup_cpu_quota(root.file("proc_v2"), root.file("v2bad")), 0.0);
  EXPECT_EQ(detail::cgroup_cpu_quota(root.file("missing"), root.file("v2")), 0.0);
}

}  // namespace
}  // namespace ved
