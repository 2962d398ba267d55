// Finding the embedded default model (include/ved/default_model.hpp). The install location is
// compiled into this file alone (VED_INSTALL_MODEL_DIR, from CMake), so that changing the prefix
// rebuilds one object and the public headers stay free of build paths.

#include "ved/default_model.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <system_error>

#include "ved/error.hpp"

#ifndef VED_INSTALL_MODEL_DIR
#define VED_INSTALL_MODEL_DIR ""
#endif

namespace ved {
namespace {

constexpr const char* kName = "tiny-ocr";

std::mutex& setting_mutex() {
  static std::mutex m;
  return m;
}

std::string& setting() {
  static std::string dir;
  return dir;
}

bool is_checkpoint(const std::string& dir) {
  std::error_code ec;
  return !dir.empty() &&
         std::filesystem::is_regular_file(std::filesystem::path(dir) / "config.json", ec);
}

// The folder of the running executable, or "" where /proc is not there to say it.
std::filesystem::path executable_dir() {
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path() : exe.parent_path();
}

}  // namespace

const char* default_model_name() {
  return kName;
}

std::vector<DefaultModelCandidate> default_model_search() {
  std::vector<DefaultModelCandidate> out;
  {
    std::lock_guard<std::mutex> lock(setting_mutex());
    if (!setting().empty()) out.push_back({setting(), "set_default_model_dir", false});
  }
  if (const char* env = std::getenv("VED_DEFAULT_MODEL"); env && *env)
    out.push_back({env, "VED_DEFAULT_MODEL", false});
  const std::filesystem::path models = std::filesystem::path("share") / "ved" / "models" / kName;
  if (const std::filesystem::path exe = executable_dir(); !exe.empty()) {
    out.push_back({(exe / models).string(), "build tree", false});
    out.push_back(
        {(exe.parent_path() / models).lexically_normal().string(), "install prefix", false});
  }
  if (*VED_INSTALL_MODEL_DIR) out.push_back({VED_INSTALL_MODEL_DIR, "configured prefix", false});
  for (auto& c : out) c.found = is_checkpoint(c.dir);
  return out;
}

std::string default_model_dir() {
  const std::vector<DefaultModelCandidate> search = default_model_search();
  std::string searched;
  for (const auto& c : search) {
    const bool explicit_setting =
        c.origin == "set_default_model_dir" || c.origin == "VED_DEFAULT_MODEL";
    if (c.found) return c.dir;
    if (explicit_setting)
      throw IoError(c.origin + " names '" + c.dir +
                    "', which is not a checkpoint folder (no config.json there)");
    searched += (searched.empty() ? "" : ", ") + c.dir;
  }
  throw IoError(std::string("no default model: ") + kName + " was not found (searched " +
                (searched.empty() ? std::string("nowhere") : searched) +
                "); pass a checkpoint folder (--model DIR), or set VED_DEFAULT_MODEL");
}

void set_default_model_dir(const std::string& dir) {
  std::lock_guard<std::mutex> lock(setting_mutex());
  setting() = dir;
}

}  // namespace ved
