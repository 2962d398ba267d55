#pragma once

// ved::Tensor<T>: a small row-major tensor with shared storage.
//
// Storage is reference counted, so copies and views are cheap and a tensor can alias memory it
// does not own (a memory-mapped checkpoint keeps itself alive through the shared pointer).
// Views along the leading dimension (`operator[]`, `slice`) and `reshape` never copy. Models do
// their arithmetic through `matrix()` (an Eigen map) and the kernels in ved/nn; they do not touch
// strides or storage.

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ved/detail/storage_pool.hpp"
#include "ved/error.hpp"

namespace ved {

using Shape = std::vector<int64_t>;

inline std::string shape_str(const Shape& shape) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << ']';
  return os.str();
}

// Element count of `shape`; throws on negative dimensions or overflow so that hostile shapes in
// a file header can never turn into an undersized allocation.
inline int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw InvalidArgument("negative dimension in shape " + shape_str(shape));
    if (d != 0 && n > INT64_MAX / d)
      throw InvalidArgument("shape " + shape_str(shape) + " overflows");
    n *= d;
  }
  return n;
}

template <typename T>
using MatrixMap = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
template <typename T>
using ConstMatrixMap =
    Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

template <typename T>
class Tensor {
 public:
  Tensor() = default;

  // A zero-filled tensor of the given shape.
  explicit Tensor(Shape shape) : shape_(std::move(shape)) {
    numel_ = shape_numel(shape_);
    data_ = allocate(shape_, numel_);
    std::fill_n(data_.get(), numel_, T());
  }
  Tensor(std::initializer_list<int64_t> shape) : Tensor(Shape(shape)) {}

  // A tensor whose values are left unset, for outputs a kernel writes in full: zero-filling
  // large activations costs a pass over memory for nothing.
  static Tensor uninitialized(Shape shape) {
    const int64_t n = shape_numel(shape);
    std::shared_ptr<T> data = allocate(shape, n);
    return Tensor(std::move(shape), std::move(data));
  }

  // A tensor over memory kept alive by `owner` (no copy).
  Tensor(Shape shape, std::shared_ptr<T> data) : shape_(std::move(shape)), data_(std::move(data)) {
    numel_ = shape_numel(shape_);
  }

  static Tensor from_vector(Shape shape, const std::vector<T>& values) {
    Tensor t(std::move(shape));
    if (static_cast<int64_t>(values.size()) != t.numel())
      throw InvalidArgument("from_vector: " + std::to_string(values.size()) + " values for shape " +
                            shape_str(t.shape()));
    std::copy(values.begin(), values.end(), t.data());
    return t;
  }

  const Shape& shape() const { return shape_; }
  int64_t ndim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t dim(int64_t i) const { return shape_.at(static_cast<size_t>(i < 0 ? ndim() + i : i)); }
  int64_t numel() const { return numel_; }
  bool empty() const { return data_ == nullptr; }

  // Row-major strides in elements. Every ved tensor is contiguous: views only narrow the leading
  // dimension, so the strides follow from the shape.
  Shape strides() const {
    Shape s(shape_.size(), 1);
    for (size_t i = shape_.size(); i-- > 1;) s[i - 1] = s[i] * shape_[i];
    return s;
  }

  T* data() { return data_.get(); }
  const T* data() const { return data_.get(); }
  T* begin() { return data(); }
  T* end() { return data() + numel_; }
  const T* begin() const { return data(); }
  const T* end() const { return data() + numel_; }

  T& operator()(std::initializer_list<int64_t> idx) { return data()[offset(idx)]; }
  const T& operator()(std::initializer_list<int64_t> idx) const { return data()[offset(idx)]; }

  // View of entry i along the leading dimension.
  Tensor operator[](int64_t i) const {
    return slice(i, i + 1).reshape(Shape(shape_.begin() + 1, shape_.end()));
  }

  // View of rows [begin, end) along the leading dimension.
  Tensor slice(int64_t begin, int64_t end) const {
    if (ndim() == 0 || begin < 0 || end < begin || end > shape_[0])
      throw InvalidArgument("slice [" + std::to_string(begin) + ", " + std::to_string(end) +
                            ") out of range for shape " + shape_str(shape_));
    Shape s = shape_;
    s[0] = end - begin;
    const int64_t row = s[0] == 0 ? 0 : shape_numel(s) / s[0];
    return Tensor(std::move(s), std::shared_ptr<T>(data_, data_.get() + begin * row));
  }

  // Same elements, new shape. One dimension may be -1.
  Tensor reshape(Shape shape) const {
    int64_t known = 1, infer = -1;
    for (size_t i = 0; i < shape.size(); ++i) {
      if (shape[i] == -1 && infer < 0) {
        infer = static_cast<int64_t>(i);
      } else {
        known *= shape[i];
      }
    }
    if (infer >= 0 && known > 0) shape[static_cast<size_t>(infer)] = numel_ / known;
    if (shape_numel(shape) != numel_)
      throw InvalidArgument("cannot reshape " + shape_str(shape_) + " to " + shape_str(shape));
    return Tensor(std::move(shape), data_);
  }

  Tensor clone() const {
    Tensor t(shape_);
    std::copy(begin(), end(), t.data());
    return t;
  }

  // The tensor as a matrix of [numel / last dim, last dim].
  MatrixMap<T> matrix() {
    const int64_t cols = ndim() ? shape_.back() : 1;
    return MatrixMap<T>(data(), cols ? numel_ / cols : 0, cols);
  }
  ConstMatrixMap<T> matrix() const {
    const int64_t cols = ndim() ? shape_.back() : 1;
    return ConstMatrixMap<T>(data(), cols ? numel_ / cols : 0, cols);
  }

 private:
  int64_t offset(std::initializer_list<int64_t> idx) const {
    if (static_cast<int64_t>(idx.size()) != ndim())
      throw InvalidArgument("index rank does not match shape " + shape_str(shape_));
    int64_t off = 0;
    size_t d = 0;
    for (int64_t i : idx) {
      if (i < 0 || i >= shape_[d])
        throw InvalidArgument("index out of range for " + shape_str(shape_));
      off = off * shape_[d++] + i;
    }
    return off;
  }

  // Storage for n elements (at least one, so that data() is never null), from the pool of
  // recycled buffers.
  static std::shared_ptr<T> allocate(const Shape& shape, int64_t n) {
    static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>,
                  "tensor elements are plain numbers");
    // Also keeps the aligned operator new from rounding a near-2^64 size up to zero.
    if (static_cast<uint64_t>(n) > PTRDIFF_MAX / sizeof(T))
      throw InvalidArgument("shape " + shape_str(shape) + " is too large to allocate");
    const size_t bytes = sizeof(T) * static_cast<size_t>(n > 0 ? n : 1);
    T* p = static_cast<T*>(detail::StoragePool::instance().allocate(bytes));
    return std::shared_ptr<T>(p,
                              [bytes](T* q) { detail::StoragePool::instance().release(q, bytes); });
  }

  Shape shape_;
  int64_t numel_ = 0;
  std::shared_ptr<T> data_;
};

}  // namespace ved
