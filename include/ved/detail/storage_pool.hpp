#pragma once

// Recycled buffers for large tensors.
//
// A forward pass allocates and frees the same few activation sizes layer after layer. Buffers
// this large come from mmap and go back to the kernel on free, so every layer paid fresh page
// faults and zeroing for its activations: half of ViT-B's encoder time on one core. Freed
// buffers up to kMaxBlockBytes are kept here, by exact size (a model's shapes repeat exactly),
// up to kMaxCachedBytes in all, and handed out again. When the cap is reached, the buffers
// released longest ago make room: the shapes in use change (a server's batches of 4, then of 8),
// and buffers of stale shapes must not keep the current ones from being reused (they did: a
// server whose first batches held 4 images mapped and faulted in every buffer of its later
// batches of 8 afresh, and ran them at half speed). The cap, not a smaller block limit, bounds
// what the pool adds to the peak: Donut's 39 MB first-stage maps (1280x960) went back to the
// kernel at once under a 32 MiB block limit and cost a fifth of its encoder time in page faults.
//
// Buffers of 2 MiB and more are mapped at a 2 MiB boundary with MADV_HUGEPAGE, so a fresh one
// faults in 2 MiB at a time instead of 4 KiB, and the kernels' TLB misses drop alike: page faults
// had been half of the Donut encoder's time at 1280x960 (8.7 s -> 4.2 s with it), on a VM where
// each fault is dear. Transparent huge pages cover only whole, aligned 2 MiB ranges of a mapping,
// and mmap aligns to 4 KiB: GPT-2's 768 x 768 matrices (2.4 MB, copied into column blocks) got
// none, and one-row products streamed them at 12.2 GB/s on one core of an Intel Xeon VM, 15.4
// on 2 MiB pages (two cores: 25.7 and 28.4), as fast as a 28 MB matrix.
// The large buffers are mapped here rather than taken from malloc, whose heap a kept buffer
// could pin, so what the pool holds is all it adds to the resident size. Under AddressSanitizer
// nothing is kept, so that every use after free is still caught.

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <new>

#if defined(__SANITIZE_ADDRESS__)
#define VED_STORAGE_POOL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VED_STORAGE_POOL 0
#endif
#endif
#ifndef VED_STORAGE_POOL
#define VED_STORAGE_POOL 1
#endif

namespace ved::detail {

class StoragePool {
 public:
  static constexpr size_t kMinBytes = size_t{1} << 18;        // 256 KiB: mapped, and kept
  static constexpr size_t kMaxBlockBytes = size_t{1} << 27;   // 128 MiB
  static constexpr size_t kMaxCachedBytes = size_t{1} << 27;  // 128 MiB kept idle at most
  static constexpr std::align_val_t kAlign{64};               // a cache line, an AVX-512 vector
  static constexpr size_t kHugeBytes = size_t{1} << 21;       // 2 MiB: one huge page

  // Never destroyed: tensors in static objects may be freed after it would have been.
  static StoragePool& instance() {
    static StoragePool* pool = new StoragePool;
    return *pool;
  }

  // At least 64-byte aligned (large buffers are page aligned).
  void* allocate(size_t bytes) {
    if (!mapped(bytes)) return ::operator new(bytes, kAlign);
    if (pooled(bytes)) {
      std::lock_guard<std::mutex> lock(mutex_);
      const auto it = free_.find(bytes);
      if (it != free_.end()) {
        void* p = it->second.p;
        free_.erase(it);
        cached_ -= bytes;
        return p;
      }
    }
    return map(bytes);
  }

  void release(void* p, size_t bytes) noexcept {
    if (!mapped(bytes)) return ::operator delete(p, kAlign);
    if (pooled(bytes)) {
      try {
        std::lock_guard<std::mutex> lock(mutex_);
        while (cached_ + bytes > kMaxCachedBytes && !free_.empty()) {
          // The pool holds at most a few hundred blocks: a scan for the oldest is cheap.
          auto oldest = free_.begin();
          for (auto it = free_.begin(); it != free_.end(); ++it)
            if (it->second.stamp < oldest->second.stamp) oldest = it;
          ::munmap(oldest->second.p, oldest->first);
          cached_ -= oldest->first;
          free_.erase(oldest);
        }
        free_.emplace(bytes, Block{p, ++clock_});
        cached_ += bytes;
        return;
      } catch (...) {  // no memory for the map node (or the lock failed): unmap it instead
      }
    }
    ::munmap(p, bytes);
  }

  // Bytes held for reuse now.
  size_t cached_bytes() {
    std::lock_guard<std::mutex> lock(mutex_);
    return cached_;
  }

 private:
  StoragePool() = default;

  // Fresh pages; from kHugeBytes on, at a kHugeBytes boundary (mapped that much longer, then
  // trimmed) and advised to be huge.
  static void* map(size_t bytes) {
    const size_t extra = bytes >= kHugeBytes ? kHugeBytes : 0;
    void* p =
        ::mmap(nullptr, bytes + extra, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    if (!extra) return p;
    const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    const uintptr_t start = reinterpret_cast<uintptr_t>(p), end = start + bytes + extra;
    const uintptr_t first = (start + kHugeBytes - 1) / kHugeBytes * kHugeBytes;
    const uintptr_t last = (first + bytes + page - 1) / page * page;  // release() unmaps to here
    if (first > start) ::munmap(p, first - start);
    if (end > last) ::munmap(reinterpret_cast<void*>(last), end - last);
#ifdef MADV_HUGEPAGE
    ::madvise(reinterpret_cast<void*>(first), bytes, MADV_HUGEPAGE);  // advice: failure is harmless
#endif
    return reinterpret_cast<void*>(first);
  }

  static bool mapped(size_t bytes) {
    return VED_STORAGE_POOL && bytes >= kMinBytes;
  }
  static bool pooled(size_t bytes) {
    return mapped(bytes) && bytes <= kMaxBlockBytes;
  }

  struct Block {
    void* p;
    uint64_t stamp;  // when it was released: the oldest are unmapped first
  };
  std::mutex mutex_;
  std::multimap<size_t, Block> free_;
  size_t cached_ = 0;
  uint64_t clock_ = 0;
};

}  // namespace ved::detail
