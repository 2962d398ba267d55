#pragma once

// Recycled buffers for large tensors.
//
// A forward pass allocates and frees the same few activation sizes layer after layer. malloc
// hands buffers this large to mmap and back to the kernel on free, so every layer paid fresh
// page faults and zeroing for its activations: half of ViT-B's encoder time on one core. Freed
// buffers of at least kMinBytes are kept here, by exact size (a model's shapes repeat exactly),
// up to kMaxCachedBytes in all, and handed out again. Under AddressSanitizer nothing is kept, so
// that every use after free is still caught.

#include <cstddef>
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
  static constexpr size_t kMinBytes = size_t{1} << 18;  // 256 KiB; malloc's heap does well below
  static constexpr size_t kMaxCachedBytes = size_t{1} << 28;  // 256 MiB kept idle at most
  static constexpr std::align_val_t kAlign{64};               // a cache line, an AVX-512 vector

  // Never destroyed: tensors in static objects may be freed after it would have been.
  static StoragePool& instance() {
    static StoragePool* pool = new StoragePool;
    return *pool;
  }

  void* allocate(size_t bytes) {
    if (VED_STORAGE_POOL && bytes >= kMinBytes) {
      std::lock_guard<std::mutex> lock(mutex_);
      const auto it = free_.find(bytes);
      if (it != free_.end()) {
        void* p = it->second;
        free_.erase(it);
        cached_ -= bytes;
        return p;
      }
    }
    return ::operator new(bytes, kAlign);
  }

  void release(void* p, size_t bytes) noexcept {
    if (VED_STORAGE_POOL && bytes >= kMinBytes) {
      try {
        std::lock_guard<std::mutex> lock(mutex_);
        if (cached_ + bytes <= kMaxCachedBytes) {
          free_.emplace(bytes, p);
          cached_ += bytes;
          return;
        }
      } catch (...) {  // no memory for the map node (or the lock failed): free it instead
      }
    }
    ::operator delete(p, kAlign);
  }

  // Bytes held for reuse now.
  size_t cached_bytes() {
    std::lock_guard<std::mutex> lock(mutex_);
    return cached_;
  }

 private:
  StoragePool() = default;

  std::mutex mutex_;
  std::multimap<size_t, void*> free_;
  size_t cached_ = 0;
};

}  // namespace ved::detail
