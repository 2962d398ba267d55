#pragma once

// Runs the built `ved` binary (VED_CLI_PATH), an example program or any command line, capturing
// its output and status.

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace ved::test {

struct CliResult {
  int status;
  std::string out;  // stdout and stderr together
};

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Runs a shell command line; `merge_stderr` folds stderr into the captured output.
inline CliResult run_shell(const std::string& command_line, bool merge_stderr = true) {
  const std::string cmd = command_line + (merge_stderr ? " 2>&1" : "");
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return {-1, "popen failed"};
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int st = ::pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

inline CliResult run_program(const std::string& program, const std::vector<std::string>& args,
                             bool merge_stderr = true) {
  std::string cmd = shell_quote(program);
  for (const auto& a : args) cmd += " " + shell_quote(a);
  return run_shell(cmd, merge_stderr);
}

#ifdef VED_CLI_PATH
inline CliResult ved_cli(const std::vector<std::string>& args, bool merge_stderr = true) {
  return run_program(VED_CLI_PATH, args, merge_stderr);
}

// The top of the build tree: the ved binary sits there, the examples under examples/NAME/.
inline std::string build_dir() {
  return std::filesystem::path(VED_CLI_PATH).parent_path().string();
}
#endif

}  // namespace ved::test
