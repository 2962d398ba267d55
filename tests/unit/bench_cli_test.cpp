// ved bench on the tiny fixture models: every mode's JSON report, per-stage timings, and the
// command-line errors.

#include <gtest/gtest.h>

#include "../cli_runner.hpp"
#include "../test_util.hpp"
#include "ved/detail/json.hpp"

namespace ved {
namespace {

using test::ved_cli;

// Runs `ved bench ARGS --json`, expecting success, and returns the parsed report.
detail::json bench_json(std::vector<std::string> args) {
  args.insert(args.begin(), "bench");
  args.push_back("--json");
  const auto r = ved_cli(args);
  EXPECT_EQ(r.status, 0) << r.out;
  try {
    return detail::json::parse(r.out);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not JSON (" << e.what() << "): " << r.out;
    return detail::json::object();
  }
}

void expect_report(const detail::json& j, const std::string& mode, int64_t batch, int64_t beams,
                   int64_t new_tokens) {
  SCOPED_TRACE(j.dump());
  for (const char* key :
       {"model", "mode", "threads", "dtype", "batch", "beams", "new_tokens", "min_s", "median_s",
        "max_s", "tokens_per_s", "load_s", "peak_rss_mb", "machine", "bound"})
    ASSERT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j["mode"], mode);
  EXPECT_EQ(j["batch"], batch);
  EXPECT_EQ(j["beams"], beams);
  EXPECT_EQ(j["new_tokens"], new_tokens);
  EXPECT_EQ(j["dtype"], "f32");
  EXPECT_GE(j["threads"].get<int64_t>(), 1);
  const double min = j["min_s"], median = j["median_s"], max = j["max_s"];
  EXPECT_GT(min, 0.0);
  EXPECT_LE(min, median);
  EXPECT_LE(median, max);
  EXPECT_GT(j["load_s"].get<double>(), 0.0);
  EXPECT_GT(j["peak_rss_mb"].get<double>(), 1.0);
  EXPECT_GT(j["machine"]["bandwidth_gbs"].get<double>(), 0.1);
  EXPECT_GT(j["machine"]["gemm_gflops"].get<double>(), 0.1);
  if (new_tokens > 0) {
    // Every image's new tokens over the median run.
    EXPECT_NEAR(j["tokens_per_s"].get<double>(), static_cast<double>(new_tokens * batch) / median,
                1e-6 * j["tokens_per_s"].get<double>());
  } else {
    EXPECT_TRUE(j["tokens_per_s"].is_null());
  }
  // The bound, and the fraction of it achieved: bound / median. (On these tiny models, whose
  // weights stay in cache, the fraction can exceed 1: the bound streams them from memory.)
  ASSERT_TRUE(j["bound"].is_object());
  EXPECT_GT(j["bound"]["s"].get<double>(), 0.0);
  EXPECT_NEAR(j["bound"]["fraction"].get<double>(), j["bound"]["s"].get<double>() / median, 1e-9);
  // The encoder's and one decoding step's own bounds, which the whole one adds up from (with the
  // cross-attention keys and values besides).
  const double encoder = j["bound"]["encoder_s"];
  EXPECT_GT(encoder, 0.0);
  if (new_tokens > 0) {
    const double step_ms = j["bound"]["decoder_step_ms"];
    EXPECT_GT(step_ms, 0.0);
    EXPECT_GE(j["bound"]["s"].get<double>() * (1 + 1e-9), encoder + new_tokens * step_ms / 1e3);
  } else {
    EXPECT_TRUE(j["bound"]["decoder_step_ms"].is_null());
    EXPECT_NEAR(j["bound"]["s"].get<double>(), encoder, 1e-12);
  }
}

const std::string kVitGpt2 = test::fixture("models/vit-gpt2");

TEST(BenchCli, GreedyOnSyntheticWeights) {
  const auto j = bench_json({"--config", kVitGpt2, "--mode", "greedy", "--new-tokens", "3", "--n",
                             "3", "--threads", "1"});
  expect_report(j, "greedy", 1, 1, 3);
  EXPECT_EQ(j["weights"], "synthetic");
  EXPECT_EQ(j["threads"], 1);
  EXPECT_EQ(j["n"], 3);
}

TEST(BenchCli, EveryModeOnCheckpoints) {
  struct Case {
    std::string fixture, mode;
    int64_t batch, beams, new_tokens;
  };
  for (const Case& c :
       {Case{"models/vit-trocr", "beam4", 1, 4, 3}, Case{"models/deit-trocr", "batch8", 8, 1, 2},
        Case{"models/vit-bert", "greedy", 1, 1, 3}, Case{"models/swin-gpt2", "encoder", 1, 1, 0}}) {
    SCOPED_TRACE(c.fixture + " " + c.mode);
    const auto j = bench_json(
        {"--model", test::fixture(c.fixture), "--mode", c.mode, "--new-tokens", "3", "--n", "1"});
    expect_report(j, c.mode, c.batch, c.beams, c.new_tokens == 0 ? 0 : 3);
    EXPECT_EQ(j["weights"], "checkpoint");
  }
}

TEST(BenchCli, VerboseReportsStageMedians) {
  const auto j = bench_json(
      {"--config", kVitGpt2, "--mode", "beam4", "--new-tokens", "4", "--n", "1", "--verbose"});
  ASSERT_TRUE(j.contains("stages")) << j.dump();
  const auto& s = j["stages"];
  for (const char* key : {"encoder_s", "cross_kv_s", "decoder_s", "decoder_step_ms", "search_s"})
    ASSERT_TRUE(s.contains(key) && s[key].is_number()) << key << ": " << s.dump();
  EXPECT_TRUE(s["preprocess_s"].is_null());  // a config folder has no preprocessor_config.json
  EXPECT_GT(s["encoder_s"].get<double>(), 0.0);
  EXPECT_GT(s["decoder_s"].get<double>(), 0.0);
  // 4 new tokens take 4 decoder steps (the last token is never fed back).
  EXPECT_NEAR(s["decoder_step_ms"].get<double>(), 1e3 * s["decoder_s"].get<double>() / 4, 1e-9);
  // The stages partition the run, which was timed around them (n = 1: medians are that run).
  const double stages = s["encoder_s"].get<double>() + s["cross_kv_s"].get<double>() +
                        s["decoder_s"].get<double>() + s["search_s"].get<double>();
  EXPECT_LE(stages, j["median_s"].get<double>() * (1 + 1e-9));
  EXPECT_GE(s["search_s"].get<double>(), 0.0);
}

TEST(BenchCli, PlainOutputIsATable) {
  const auto r = ved_cli({"bench", "--config", kVitGpt2, "--mode", "encoder", "--n", "1"});
  ASSERT_EQ(r.status, 0) << r.out;
  for (const char* line : {"model ", "mode ", "time ", "peak memory", "machine ", "bound "})
    EXPECT_NE(r.out.find(line), std::string::npos) << line << " in:\n" << r.out;
  // --verbose puts the encoder and a decoding step beside their own bounds.
  const auto v = ved_cli({"bench", "--config", kVitGpt2, "--mode", "greedy", "--new-tokens", "2",
                          "--n", "1", "--verbose"});
  ASSERT_EQ(v.status, 0) << v.out;
  for (const char* stage : {"encoder_s", "decoder_step_ms"}) {
    const size_t at = v.out.find(std::string("  ") + stage);
    ASSERT_NE(at, std::string::npos) << stage << " in:\n" << v.out;
    const std::string line = v.out.substr(at, v.out.find('\n', at) - at);
    EXPECT_NE(line.find("(bound "), std::string::npos) << line;
    EXPECT_NE(line.find(" of it)"), std::string::npos) << line;
  }
}

TEST(BenchCli, BadCommandLinesAreErrors) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  for (const Case& c : {
           Case{{"bench", "--model"}, "--model needs a value"},
           Case{{"bench", "--config", kVitGpt2, "--mode", "beam5"}, "unknown --mode 'beam5'"},
           Case{{"bench", "--config", kVitGpt2, "--n", "0"},
                "--n must be an integer >= 1, got '0'"},
           Case{{"bench", "--config", kVitGpt2, "--new-tokens", "3x"}, "got '3x'"},
           Case{{"bench", "--config", kVitGpt2, "--dtype", "int4"}, "unknown weight type 'int4'"},
           Case{{"bench", "--config", kVitGpt2, "--compare-f32"}, "--compare-f32 needs --dtype"},
           Case{{"bench", "--config", kVitGpt2, "--model", kVitGpt2},
                "one of --model and --config"},
           Case{{"bench", "--config", kVitGpt2, "--frobnicate"}, "unknown option --frobnicate"},
           Case{{"bench", "--model", test::fixture("models")}, "config.json"},
       }) {
    const auto r = ved_cli(c.args);
    EXPECT_NE(r.status, 0) << r.out;
    EXPECT_NE(r.out.find(c.message), std::string::npos) << c.message << " not in: " << r.out;
    EXPECT_EQ(r.out.find("internal error"), std::string::npos) << r.out;
  }
}

}  // namespace
}  // namespace ved
