// `ved caption --input DIR --output results.jsonl` over 210 generated images, 5 of them corrupt:
// a run is really interrupted (SIGKILL while it waits on an image), then resumed, and the result
// is checked line by line.

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "../cli_runner.hpp"
#include "../test_util.hpp"
#include "ved/pipeline.hpp"

extern char** environ;

namespace ved {
namespace {

using test::CliResult;
using test::ved_cli;
namespace fs = std::filesystem;

const std::string kModel = std::string(VED_TEST_DATA) + "/../../examples/models/demo-trocr";
const std::string kArgs = R"({"max_new_tokens": 6})";
constexpr int kImages = 210;
const std::set<int> kCorrupt = {50, 75, 125, 150, 175};

std::string name(int i) {
  char buf[32];
  const char* ext = i == 75 ? "png" : i == 125 ? "jpg" : i == 150 ? "bmp" : "ppm";
  std::snprintf(buf, sizeof buf, "img_%04d.%s", i, ext);
  return buf;
}

// A 16x12 binary PPM whose pixels depend on i, so that images differ.
std::string ppm(int i) {
  std::string data = "P6\n16 12\n255\n";
  for (int p = 0; p < 16 * 12 * 3; ++p) data += static_cast<char>((p * (i + 3) + i * 37) % 256);
  return data;
}

std::string corrupt(int i) {
  switch (i) {
    case 50:
      return ppm(i).substr(0, 100);  // truncated pixel data
    case 75:
      return "\x89PNG\r\n\x1a\n garbage after the signature";
    case 125:
      return "";  // empty file
    case 150:
      return "BM this is no bitmap at all";
    default:
      return "P6\n65535 65535\n255\n\x01\x02";  // absurd size, no data
  }
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

size_t complete_lines(const std::string& path) {
  const std::string text = test::read_file(path);
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

class BatchCli : public ::testing::Test {
 protected:
  void SetUp() override {
    images_ = tmp_.path() / "images";
    fs::create_directories(images_);
    for (int i = 0; i < kImages; ++i) {
      const std::string path = (images_ / name(i)).string();
      test::write_file(path, kCorrupt.count(i) ? corrupt(i) : ppm(i));
    }
    test::write_file((images_ / "notes.txt").string(), std::string("not an image name: ignored"));
  }

  std::vector<std::string> caption_args(const std::string& output, int batch_size) const {
    return {"caption",
            "--model",
            kModel,
            "--input",
            images_.string(),
            "--output",
            output,
            "--batch-size",
            std::to_string(batch_size),
            "--args",
            kArgs,
            "--threads",
            "1"};
  }

  test::TempDir tmp_;
  fs::path images_;
};

TEST_F(BatchCli, InterruptedRunResumesWithoutDuplicates) {
  const std::string out = tmp_.file("results.jsonl");
  // 1. Start a run (one image a batch) and kill it once it has written some batches but not all.
  // Stopping it first
  //    freezes the file for counting; the run takes seconds, the polling milliseconds.
  std::vector<std::string> args = caption_args(out, 1);
  args.insert(args.begin(), VED_CLI_PATH);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 2, tmp_.file("run1.err").c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, VED_CLI_PATH, &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while ((!fs::exists(out) || complete_lines(out) < 10) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ::kill(pid, SIGSTOP);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, WUNTRACED), pid);
  ASSERT_TRUE(WIFSTOPPED(status)) << "the run ended before it was interrupted";
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  std::string partial = test::read_file(out);
  const size_t written = complete_lines(out);
  ASSERT_GE(written, 10u) << test::read_file(tmp_.file("run1.err"));
  ASSERT_LT(written, static_cast<size_t>(kImages));
  std::set<std::string> done;
  for (const auto& line : lines_of(partial.substr(0, partial.rfind('\n') + 1)))
    done.insert(detail::json::parse(line)["image"].get<std::string>());
  // A kill in the middle of a write leaves a partial last line; make sure there is one.
  if (partial.back() == '\n') {
    std::ofstream torn(out, std::ios::app | std::ios::binary);
    torn << R"({"image": ")" << (images_ / name(kImages - 1)).string() << R"(", "te)";
  }
  size_t good_left = 0, corrupt_left = 0;
  for (int i = 0; i < kImages; ++i)
    if (!done.count((images_ / name(i)).string())) ++(kCorrupt.count(i) ? corrupt_left : good_left);

  // 2. Resume, with another batch size.
  const CliResult resumed = ved_cli(caption_args(out, 7));
  ASSERT_EQ(resumed.status, 0) << resumed.out;
  EXPECT_NE(
      resumed.out.find(std::to_string(good_left) + " captioned, " + std::to_string(corrupt_left) +
                       " unreadable, " + std::to_string(done.size()) + " already in"),
      std::string::npos)
      << resumed.out;
  EXPECT_EQ(resumed.out.find('\r'), std::string::npos) << "progress bar drawn on a non-terminal";

  // 3. A clean run in one go, for comparison.
  const std::string clean_out = tmp_.file("clean.jsonl");
  const CliResult clean = ved_cli(caption_args(clean_out, 16));
  ASSERT_EQ(clean.status, 0) << clean.out;
  std::map<std::string, detail::json> clean_lines;
  for (const auto& line : lines_of(test::read_file(clean_out))) {
    const detail::json j = detail::json::parse(line);
    clean_lines[j["image"]] = j;
  }

  const std::vector<std::string> lines = lines_of(test::read_file(out));
  ASSERT_EQ(lines.size(), static_cast<size_t>(kImages));
  std::set<std::string> seen;
  for (const auto& line : lines) {
    const detail::json j = detail::json::parse(line);  // the torn line is gone
    const std::string image = j["image"];
    EXPECT_TRUE(seen.insert(image).second) << "duplicate line for " << image;
    const int index = std::stoi(fs::path(image).stem().string().substr(4));
    if (kCorrupt.count(index)) {
      ASSERT_TRUE(j.contains("error")) << line;
      EXPECT_NE(j["error"].get<std::string>().find(image), std::string::npos) << line;
      continue;
    }
    ASSERT_FALSE(j.contains("error")) << line;
    EXPECT_EQ(j["tokens"][0], 2) << line;  // the decoder start token
    EXPECT_LE(j["tokens"].size(), 7u) << line;
    EXPECT_EQ(j["token_logprobs"].size(), j["tokens"].size() - 1) << line;
    EXPECT_GT(j["confidence"].get<double>(), 0.0);
    EXPECT_LE(j["confidence"].get<double>(), 1.0);
    // Interrupted, resumed and re-batched, the result is the uninterrupted run's.
    EXPECT_EQ(j["tokens"], clean_lines[image]["tokens"]) << image;
    EXPECT_EQ(j["text"], clean_lines[image]["text"]) << image;
    EXPECT_NEAR(j["score"].get<double>(), clean_lines[image]["score"].get<double>(), 1e-5);
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kImages));

  // The CLI's result for an image is the library's.
  const std::string one = (images_ / name(100)).string();
  const auto pipeline = ImageToText::from_pretrained(kModel);
  const TextResult expected = pipeline.run(load_image(one), detail::json::parse(kArgs));
  EXPECT_EQ(clean_lines[one]["tokens"], detail::json(expected.tokens));
  EXPECT_EQ(clean_lines[one]["text"], expected.text);

  // 4. Nothing left to do: the file is not touched.
  const std::string before = test::read_file(out);
  const CliResult again = ved_cli(caption_args(out, 4));
  ASSERT_EQ(again.status, 0) << again.out;
  EXPECT_NE(again.out.find("0 captioned, 0 unreadable, 210 already in"), std::string::npos)
      << again.out;
  EXPECT_EQ(test::read_file(out), before);
}

TEST_F(BatchCli, ListFileInput) {
  const std::string list = tmp_.write(
      "list.txt", "# images to caption\n" + (images_ / name(1)).string() + "\n\n" +
                      (images_ / name(50)).string() + "\n" + (images_ / name(2)).string() + "\n");
  const std::string out = tmp_.file("list.jsonl");
  const CliResult r = ved_cli({"caption", "--model", kModel, "--input", list, "--output", out,
                               "--args", kArgs, "--threads", "1"});
  ASSERT_EQ(r.status, 0) << r.out;
  const auto lines = lines_of(test::read_file(out));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(detail::json::parse(lines[0])["image"], (images_ / name(1)).string());
  EXPECT_TRUE(detail::json::parse(lines[1]).contains("error"));
  EXPECT_TRUE(detail::json::parse(lines[2]).contains("text"));
}

// On a terminal the run draws a progress bar (count, rate, ETA) on stderr; stdout stays a pipe.
TEST_F(BatchCli, ProgressBarOnATerminal) {
  const int master = ::posix_openpt(O_RDWR | O_NOCTTY);
  ASSERT_GE(master, 0) << "no pseudo-terminal available";
  ASSERT_EQ(::grantpt(master), 0);
  ASSERT_EQ(::unlockpt(master), 0);
  const std::string terminal = ::ptsname(master);

  std::string list;
  for (int i = 0; i < 6; ++i) list += (images_ / name(i)).string() + "\n";
  std::vector<std::string> args = {VED_CLI_PATH,   "caption",
                                   "--model",      kModel,
                                   "--input",      tmp_.write("list.txt", list),
                                   "--output",     tmp_.file("tty.jsonl"),
                                   "--batch-size", "2",
                                   "--args",       kArgs,
                                   "--threads",    "1"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 2, terminal.c_str(), O_WRONLY | O_NOCTTY, 0);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, VED_CLI_PATH, &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);

  // Drain the terminal while the run goes on (a full pty buffer would block it).
  std::string screen;
  int status = 0;
  for (;;) {
    pollfd p{master, POLLIN, 0};
    if (::poll(&p, 1, 100) > 0 && (p.revents & POLLIN)) {
      char buf[4096];
      const ssize_t n = ::read(master, buf, sizeof buf);
      if (n > 0) screen.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (::waitpid(pid, &status, WNOHANG) == pid) break;
  }
  ::close(master);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << screen;
  // A redrawn line per batch, the last one complete, then the summary.
  EXPECT_NE(screen.find("\r[..............................] 0/6"), std::string::npos) << screen;
  EXPECT_NE(screen.find("] 2/6"), std::string::npos) << screen;
  EXPECT_NE(screen.find("\r[##############################] 6/6"), std::string::npos) << screen;
  EXPECT_NE(screen.find(" img/s  ETA "), std::string::npos) << screen;
  EXPECT_NE(screen.find("6 captioned, 0 unreadable, 0 already in"), std::string::npos) << screen;
  EXPECT_EQ(lines_of(test::read_file(tmp_.file("tty.jsonl"))).size(), 6u);
}

TEST_F(BatchCli, RefusesToAppendToAForeignFile) {
  const std::string out = tmp_.write("notes.jsonl", std::string("hello\n"));
  const CliResult r = ved_cli(caption_args(out, 4));
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find(out + ": line 1"), std::string::npos) << r.out;
  EXPECT_EQ(test::read_file(out), "hello\n");
}

TEST(CaptionCli, StreamPrintsTheGreedyText) {
  const std::string image = test::fixture("images/inputs/gradient_37x23.png");
  const CliResult streamed = ved_cli(
      {"caption", "--model", kModel, "--stream", "--args", R"({"max_new_tokens": 10})", image},
      /*merge_stderr=*/false);
  ASSERT_EQ(streamed.status, 0) << streamed.out;
  const auto pipeline = ImageToText::from_pretrained(kModel);
  std::vector<std::string> pieces;
  const TextResult r = pipeline.run(load_image(image), {{"max_new_tokens", 10}},
                                    [&](const std::string& p) { pieces.push_back(p); });
  EXPECT_EQ(streamed.out, r.text + "\n");
  EXPECT_GT(pieces.size(), 1u);  // text arrived in pieces, not at the end
}

TEST(CaptionCli, OptionErrors) {
  const std::string image = test::fixture("images/inputs/gradient_37x23.png");
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"caption", "--model", kModel, "--stream", image, image},
           {"caption", "--model", kModel, "--batch-size", "0", image},
           {"caption", "--model", kModel, "--threads", "x", image},
           {"caption", "--model", kModel, "--json", "--output", "/tmp/x.jsonl", image}}) {
    const CliResult r = ved_cli(args);
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("usage:"), std::string::npos) << r.out;
  }
  const CliResult missing = ved_cli({"caption", "--model", kModel, "--input", "/nonexistent"});
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.out.find("/nonexistent"), std::string::npos) << missing.out;
}

}  // namespace
}  // namespace ved
