#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "ved/error.hpp"

namespace ved::detail {

// The whole file as bytes; IoError naming the path when it cannot be read.
inline std::string read_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw IoError(path + ": is a directory, expected a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path + ": cannot open file");
  std::ostringstream ss;
  ss << in.rdbuf();  // sets failbit on ss for an empty file, which is not an error
  if (in.bad()) throw IoError(path + ": read error");
  return ss.str();
}

}  // namespace ved::detail
