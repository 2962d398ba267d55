#pragma once

// Read-only memory maps of checkpoint files, and a way to give back the pages of a tensor that
// has been copied out of one.

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <string>

#include "ved/error.hpp"

namespace ved::detail {

// The file mappings alive in this process, by start address, with their sizes. Never destroyed:
// a MappedFile held by an object of static storage may outlive any static of this header.
struct LiveMappings {
  std::mutex mutex;
  std::map<uintptr_t, size_t> ranges;

  static LiveMappings& get() {
    static LiveMappings* live = new LiveMappings;
    return *live;
  }
};

// Tensors of at least this many bytes are read in place from a mapped checkpoint; smaller ones
// (biases, norms) are copied. Linux maps a file's page cache in large folios (ext4, xfs), so a
// read of a small tensor in place maps up to megabytes around it: once GPT-2's Conv1D weights
// had been copied and their pages given back (release_mapped), decoding's reads of the biases
// between them brought 56 MB of those pages back.
constexpr size_t kMinAliasedBytes = size_t{1} << 20;

// A read-only, private memory map of a whole file.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path) : path_(path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw IoError(path + ": cannot open file: " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      throw IoError(path + ": not a regular file");
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        const int err = errno;
        ::close(fd);
        throw IoError(path + ": cannot map file: " + std::strerror(err));
      }
      data_ = static_cast<const unsigned char*>(p);
      LiveMappings& live = LiveMappings::get();
      std::lock_guard<std::mutex> lock(live.mutex);
      live.ranges[reinterpret_cast<uintptr_t>(data_)] = size_;
    }
    ::close(fd);
  }
  ~MappedFile() {
    if (!data_) return;
    LiveMappings& live = LiveMappings::get();
    std::lock_guard<std::mutex> lock(live.mutex);
    live.ranges.erase(reinterpret_cast<uintptr_t>(data_));
    ::munmap(const_cast<unsigned char*>(data_), size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const unsigned char* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const unsigned char* data_ = nullptr;
  size_t size_ = 0;
};

// Gives back this process's pages of [p, p + bytes) when the range lies in a live MappedFile:
// for a tensor read in place from a checkpoint and then copied into another layout, whose mapped
// pages would otherwise stay resident beside the copy (a third more memory for GPT-2). Only the
// pages wholly inside the range go, so no other tensor's bytes are touched; and since the mapping
// is private and read-only, a later read of them (another holder of the same tensor) faults the
// file's bytes back in. Memory that is not in such a mapping is left alone.
inline void release_mapped(const void* p, size_t bytes) {
  const uintptr_t begin = reinterpret_cast<uintptr_t>(p), end = begin + bytes;
  LiveMappings& live = LiveMappings::get();
  std::lock_guard<std::mutex> lock(live.mutex);
  auto it = live.ranges.upper_bound(begin);
  if (it == live.ranges.begin()) return;
  --it;
  if (end > it->first + it->second) return;
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t first = (begin + page - 1) / page * page, last = end / page * page;
  if (first < last) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

}  // namespace ved::detail
