#pragma once

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>

#include "ved/error.hpp"
#include "ved/limits.hpp"

namespace ved::detail {

inline bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// The whole file as bytes; IoError naming the path when it cannot be read. Only regular files
// are read (a FIFO or a device such as /dev/zero would block or never end), and only up to
// Limits::max_text_file_bytes, checked before the buffer is allocated.
inline std::string read_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw IoError(path + ": cannot open file: " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw IoError(path + ": is a directory, expected a file");
  if (!S_ISREG(st.st_mode)) throw IoError(path + ": not a regular file");
  const uint64_t max = limits().max_text_file_bytes;
  if (static_cast<uint64_t>(st.st_size) > max)
    throw IoError(
        path + ": " +
        limit_message("file size", static_cast<uint64_t>(st.st_size), "max_text_file_bytes", max));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path + ": cannot open file");
  std::string out(static_cast<size_t>(st.st_size), '\0');
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  // The file may have shrunk since stat(); what was read is what the file holds.
  out.resize(static_cast<size_t>(in.gcount()));
  if (in.bad()) throw IoError(path + ": read error");
  return out;
}

}  // namespace ved::detail
