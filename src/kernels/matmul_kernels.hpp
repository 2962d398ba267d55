#pragma once

// The matrix-product kernels behind ved::nn::WeightMatrix::multiply, one set per instruction set,
// chosen once at run time (dispatch.cpp). Each set is compiled in its own file, its functions in
// its own namespace and, for the vector ones, under `#pragma GCC target` placed after every
// library header: only ved's own kernel code gets the wider instructions, so no inline function
// shared with the rest of the program (std::, Eigen) is ever compiled for a CPU the program
// might not run on.

#include <algorithm>
#include <cstdint>
#include <vector>

#include "ved/nn/attention.hpp"
#include "ved/nn/matmul.hpp"

namespace ved::nn::kernels {

// gelu_new's math.sqrt(2 / math.pi) and gelu_pytorch_tanh's M_SQRT2 * M_2_SQRTPI * 0.5, both
// rounded to float by PyTorch: the same float.
constexpr float kGeluTanhBeta = static_cast<float>(0.7978845608028654);

struct KernelSet {
  const char* name;  // "generic", "avx2", "avx512", "avx512 (bf16, vnni)" (see below)
  void (*multiply)(const WeightView& w, const float* x, int64_t M, float* y, const Epilogue& e);
  // One row of attention scores in place: s = s · scale + bias + bias2 (either bias may be null),
  // then softmax(s) over its n entries (ved::nn::softmax_scores).
  void (*softmax)(float* s, int64_t n, float scale, const float* bias, const float* bias2);
  // One row of nn.LayerNorm: y = (x - mean) / sqrt(var + eps) · weight + bias over d features
  // (ved::nn::layer_norm_row).
  void (*layer_norm)(const float* x, float* y, int64_t d, const float* weight, const float* bias,
                     float eps);
  // x · 0.5 · (1 + erf(x / √2)) in place over n values (ved::nn::gelu_erf).
  void (*gelu)(float* p, int64_t n);
  // x · 0.5 · (1 + tanh(kGeluTanhBeta · (x + 0.044715 · x³))) in place over n values
  // (ved::nn::gelu_tanh).
  void (*gelu_tanh)(float* p, int64_t n);
  // One head of softmax(q kᵀ · scale + bias + bias2) v (ved::nn::attend_head).
  void (*attend)(const AttentionArgs& a, int64_t h, const float* bias, const float* bias2);
  // Heads [h0, h1) of softmax(q kᵀ · scale) v at once, each head's output the same bits as
  // attend's (ved::nn::attend_heads); false, having done nothing, for the shapes it leaves to
  // attend. nullptr for a set without it.
  bool (*attend_heads)(const AttentionArgs& a, int64_t h0, int64_t h1);
};

// The epilogue over the block of y [M, N] from row m0 and column n0, `rows` by `cols`.
inline void finish(const Epilogue& e, float* y, int64_t N, int64_t m0, int64_t rows, int64_t n0,
                   int64_t cols) {
  for (int64_t m = m0; m < m0 + rows; ++m) {
    float* row = y + m * N + n0;
    if (e.bias)
      for (int64_t j = 0; j < cols; ++j) row[j] += e.bias[n0 + j];
    if (e.activate) e.activate(row, cols);
    if (e.residual)
      for (int64_t j = 0; j < cols; ++j) row[j] += e.residual[m * N + n0 + j];
  }
}

// A GEMM's epilogue, split: the bias, and the residual unless an activation must come before it,
// go into the kernel's registers as it stores a block (bias(), residual()); what is left, the
// activation and a residual after it, runs by finish() on the block while it is in L1 (rest()).
class SplitEpilogue {
 public:
  explicit SplitEpilogue(const Epilogue& e)
      : e_(e), residual_in_kernel_(e.residual && !e.activate) {}
  const float* bias(int64_t n0) const { return e_.bias ? e_.bias + n0 : nullptr; }
  const float* residual(int64_t N, int64_t m0, int64_t n0) const {
    return residual_in_kernel_ ? e_.residual + m0 * N + n0 : nullptr;
  }
  void rest(float* y, int64_t N, int64_t m0, int64_t rows, int64_t n0, int64_t cols) const {
    if (e_.activate)
      finish({nullptr, e_.activate, residual_in_kernel_ ? nullptr : e_.residual}, y, N, m0, rows,
             n0, cols);
  }

 private:
  const Epilogue& e_;
  bool residual_in_kernel_;
};

// One head of attention through a set's own products (k as a weight matrix, then v) and softmax:
// any shape. The generic set's attention; the AVX2 and AVX-512 sets' for what their kernel
// (attention_rows.inc) does not cover (heads not a whole number of vectors wide).
void attend_by_products(const KernelSet& set, const AttentionArgs& a, int64_t h, const float* bias,
                        const float* bias2);

// The row-wise kernels of each set (row_kernels_x86.cpp; the generic ones in matmul_generic.cpp).
#define VED_ROW_KERNELS                                                                        \
  void softmax(float* s, int64_t n, float scale, const float* bias, const float* bias2);       \
  void layer_norm(const float* x, float* y, int64_t d, const float* weight, const float* bias, \
                  float eps);                                                                  \
  void gelu(float* p, int64_t n);                                                              \
  void gelu_tanh(float* p, int64_t n);

namespace generic {
VED_ROW_KERNELS
}
namespace avx2 {
VED_ROW_KERNELS
}
namespace avx512 {
VED_ROW_KERNELS
// matmul_avx512.cpp
void attend(const AttentionArgs& a, int64_t h, const float* bias, const float* bias2);
bool attend_heads(const AttentionArgs& a, int64_t h0, int64_t h1);
}  // namespace avx512
#undef VED_ROW_KERNELS

const KernelSet& generic_kernels();
// nullptr when this build has no such set (another architecture, or a compiler without it).
const KernelSet* avx2_kernels();
const KernelSet* avx512_kernels();
// The AVX-512 set with skinny products of bf16 weights on AVX512-BF16 (vdpbf16ps, x rounded to
// bf16) and of int8 weights on AVX512-VNNI (vpdpbusd, x quantised per row to int8), for the
// extensions given; with `bf16_gemm`, GEMMs of bf16 and int8 weights on vdpbf16ps too ("avx512
// (bf16, vnni)", "avx512 (bf16)"), else widened to f32 by the AVX-512 set's own GEMM ("avx512
// (bf16 decoding, vnni)", "avx512 (bf16 decoding)"; dispatch.cpp says which CPUs get which).
// "avx512 (vnni)" without bf16. With `amx` (and both extensions: every AMX CPU has them), the
// GEMMs of bf16 and int8 weights run on AMX tiles instead ("avx512 (amx bf16, vnni)"), where the
// compiler has AMX intrinsics. f32 products are the AVX-512 set's own. nullptr for neither
// extension, or a compiler without them. The chosen set's name is ved::kernel_isa().
const KernelSet* avx512_reduced_kernels(bool bf16, bool vnni, bool bf16_gemm, bool amx = false);

// Every set this CPU can run, narrowest first (for tests).
std::vector<const KernelSet*> runnable_kernels();

// Up to this many rows of x, products stream W through the skinny kernels; above it they are
// compute-bound and blocked GEMM wins. Beam search (4 beams) and small batches stay below.
constexpr int64_t kSkinnyRows = 8;

// Skinny products that read W one row after another fetch it this far ahead of their loads:
// with one stream per core, the hardware prefetchers alone kept too few lines in flight (a
// 50257 x 768 product read 50 GB/s; with 4 KiB ahead, 70-80 GB/s). Past the end of W a
// prefetch is a hint that never faults.
constexpr int64_t kPrefetchBytes = 4096;

inline void prefetch_ahead(const void* p) {
  __builtin_prefetch(static_cast<const char*>(p) + kPrefetchBytes);
}

// p's line into L2 only (prefetcht1). A prefetch into L1 holds one of the core's few L1 miss
// buffers until its line arrives from memory; fetched far ahead into L2, then near its use from
// L2 into L1, a stream keeps more lines in flight (see axpy_band in matmul_avx512.cpp).
inline void prefetch_l2(const void* p) {
  __builtin_prefetch(p, 0, 2);
}

// How many blocks of `block_work` multiply-adds a skinny product must have before it is split
// across threads: waking a team costs microseconds, as much as a small layer's whole product.
inline int64_t serial_blocks(int64_t block_work) {
  constexpr int64_t kMinParallelWork = int64_t{1} << 17;
  return std::max<int64_t>(1, kMinParallelWork / std::max<int64_t>(1, block_work));
}

// The grid of GEMM tiles: row blocks of at most 384 rows, evenly sized, by 64 columns, leave 12
// or more tiles to share out for every layer of a base-sized model (197 and 577 tokens, batches
// of 8). It depends on the shape alone, never on the thread count, so y is the same bits on any
// number of cores.
constexpr int64_t kMaxTileRows = 384, kTileCols = 64;

}  // namespace ved::nn::kernels
