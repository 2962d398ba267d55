// Tensor storage: recycled large buffers (detail/storage_pool.hpp) keep the tensor's promises.

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "ved/tensor.hpp"

namespace ved {
namespace {

using detail::StoragePool;

constexpr int64_t kLarge = int64_t{1} << 17;  // 512 KiB of floats: a pooled size

TEST(TensorStorage, ZeroFilledEvenFromARecycledBuffer) {
  { Tensor<float>({kLarge}).matrix().setConstant(7.0f); }
  const Tensor<float> t({kLarge});
  for (int64_t i = 0; i < t.numel(); ++i) ASSERT_EQ(t.data()[i], 0.0f) << i;
}

TEST(TensorStorage, LargeBuffersAreReusedSmallOnesAreNot) {
  const float* first = nullptr;
  {
    Tensor<float> a = Tensor<float>::uninitialized({3, kLarge});
    first = a.data();
  }
  const Tensor<float> b = Tensor<float>::uninitialized({3, kLarge});  // same byte size
#if VED_STORAGE_POOL
  EXPECT_EQ(b.data(), first);
#else
  EXPECT_EQ(StoragePool::instance().cached_bytes(), 0u);  // sanitizer builds keep nothing
#endif
  const size_t cached = StoragePool::instance().cached_bytes();
  { Tensor<float> small({16}); }
  EXPECT_EQ(StoragePool::instance().cached_bytes(), cached);
}

TEST(TensorStorage, IdleBuffersAreCapped) {
  {
    std::vector<Tensor<uint8_t>> big;  // 5 x 32 MiB: more than the cap
    for (int i = 0; i < 5; ++i) big.push_back(Tensor<uint8_t>::uninitialized({int64_t{1} << 25}));
  }
  EXPECT_LE(StoragePool::instance().cached_bytes(), StoragePool::kMaxCachedBytes);
#if VED_STORAGE_POOL
  EXPECT_GE(StoragePool::instance().cached_bytes(), size_t{3} << 25);  // kept until the cap
#endif
}

// Buffers of shapes no longer in use give way to the current ones once the cap is reached.
TEST(TensorStorage, OldBuffersMakeRoomForNewShapes) {
  {
    std::vector<Tensor<uint8_t>> old;  // fills the pool with one size
    for (int i = 0; i < 5; ++i) old.push_back(Tensor<uint8_t>::uninitialized({int64_t{1} << 25}));
  }
  const int64_t newer = (int64_t{1} << 25) - 4096;
  { Tensor<uint8_t>::uninitialized({newer}); }  // released into a full pool
  const size_t before = StoragePool::instance().cached_bytes();
  const Tensor<uint8_t> again = Tensor<uint8_t>::uninitialized({newer});
#if VED_STORAGE_POOL
  // Taken from the pool: it was kept, an old block went instead.
  EXPECT_EQ(StoragePool::instance().cached_bytes(), before - static_cast<size_t>(newer));
#else
  EXPECT_EQ(StoragePool::instance().cached_bytes(), before);
#endif
  EXPECT_LE(before, StoragePool::kMaxCachedBytes);
}

TEST(TensorStorage, HugeBuffersGoBackAtOnce) {
  const size_t cached = StoragePool::instance().cached_bytes();
  { Tensor<uint8_t>::uninitialized({static_cast<int64_t>(StoragePool::kMaxBlockBytes) + 4096}); }
  EXPECT_EQ(StoragePool::instance().cached_bytes(), cached);
}

// Buffers of kHugeBytes and more ask for transparent huge pages (where the kernel offers them:
// "always" or "madvise" in /sys/kernel/mm/transparent_hugepage/enabled): /proc/self/smaps then
// marks their mapping THPeligible.
TEST(TensorStorage, LargeBuffersAskForHugePages) {
  std::ifstream mode("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string setting((std::istreambuf_iterator<char>(mode)), std::istreambuf_iterator<char>());
  if (!VED_STORAGE_POOL || setting.find("[never]") != std::string::npos || setting.empty())
    GTEST_SKIP() << "no pool (sanitizer build) or no transparent huge pages here";
  const Tensor<uint8_t> t =
      Tensor<uint8_t>::uninitialized({static_cast<int64_t>(StoragePool::kHugeBytes)});
  const auto at = reinterpret_cast<uintptr_t>(t.data());
  std::ifstream smaps("/proc/self/smaps");
  bool inside = false, found = false;
  for (std::string line; std::getline(smaps, line);) {
    unsigned long lo = 0, hi = 0;
    char perms[8];
    if (std::sscanf(line.c_str(), "%lx-%lx %7s", &lo, &hi, perms) == 3) {
      inside = lo <= at && at < hi;  // a mapping's header line
    } else if (inside && line.rfind("THPeligible:", 0) == 0) {
      found = true;
      EXPECT_NE(line.find('1'), std::string::npos) << line;
    }
  }
  EXPECT_TRUE(found) << "no THPeligible line for the buffer's mapping in /proc/self/smaps";
}

// Huge pages cover only whole, aligned 2 MiB ranges of a mapping, so the pool maps a large
// buffer at such a boundary: mapped longer, then trimmed. Every byte is usable, and the trimmed
// ends go back: mapping and freeing a buffer over and over does not grow the address space.
TEST(TensorStorage, LargeBuffersStartAtAHugePageBoundary) {
  if (!VED_STORAGE_POOL) GTEST_SKIP() << "no pool in sanitizer builds";
  for (const size_t bytes : {StoragePool::kHugeBytes, StoragePool::kHugeBytes * 3 / 2 + 13,
                             StoragePool::kMaxBlockBytes + 4097}) {
    Tensor<uint8_t> t = Tensor<uint8_t>::uninitialized({static_cast<int64_t>(bytes)});
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % StoragePool::kHugeBytes, 0u) << bytes;
    t.data()[0] = 1;
    t.data()[bytes - 1] = 2;
    EXPECT_EQ(t.data()[0] + t.data()[bytes - 1], 3) << bytes;
  }
  auto vm_size_kb = [] {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);)
      if (line.rfind("VmSize:", 0) == 0) return std::stol(line.substr(7));
    return -1L;
  };
  const long before = vm_size_kb();
  ASSERT_GT(before, 0) << "no VmSize in /proc/self/status";
  for (int i = 0; i < 200; ++i)  // past kMaxBlockBytes: unmapped on release, never kept
    (void)Tensor<uint8_t>::uninitialized(
        {static_cast<int64_t>(StoragePool::kMaxBlockBytes) + 4097});
  // A leak of the 2 MiB trimmed off each would have grown it by 400 MiB.
  EXPECT_LT(vm_size_kb() - before, 64 * 1024) << "KiB of address space kept";
}

TEST(TensorStorage, BuffersAreCacheLineAligned) {
  for (int64_t n : {int64_t{1}, int64_t{3}, kLarge + 1}) {
    const Tensor<int8_t> t({n});
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % 64, 0u) << n;
  }
}

TEST(TensorStorage, ByteCountOverflowIsAnError) {
  volatile int64_t huge = INT64_MAX / 4;  // opaque, or GCC warns about the fill it cannot reach
  EXPECT_THROW(Tensor<float>({huge, 2}), InvalidArgument);
  EXPECT_THROW(Tensor<int64_t>::uninitialized({huge, 2}), InvalidArgument);
}

}  // namespace
}  // namespace ved
