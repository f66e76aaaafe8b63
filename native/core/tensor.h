// Storage, TensorImpl and the Tensor handle. A tensor is a strided view of a
// reference-counted storage, plus the autograd metadata that ties it to the
// graph of backward nodes.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "core/dtype.h"
#include "runtime/object_pool.h"

namespace tapegrad {

// Shapes and strides live in the per-thread object pool: every op makes some.
using Shape = std::vector<std::int64_t, runtime::PoolAllocator<std::int64_t>>;
class Node;
class Tensor;

// A 64-byte aligned buffer. The version counter lives here so that every
// view of the storage sees in-place writes made through any other view.
struct Storage {
  Storage(std::size_t nbytes, const char* op);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data;
  std::size_t nbytes;
  std::atomic<std::uint32_t> version{0};
  // Set while an async job reads or writes the storage; JS writes then fail.
  // A job that writes it adds kWriteLock, each job that only reads it 1.
  std::atomic<std::int32_t> locks{0};
  static constexpr std::int32_t kWriteLock = 1 << 20;
};

// True when `s` is locked by an async job and the caller is not that job:
// writes must then fail. A job marks the thread it runs on with an
// AsyncJobScope, so the updates it was queued to make pass.
bool locked_against_writes(const Storage& s);

// True on a thread inside an AsyncJobScope.
bool in_async_job();

class AsyncJobScope {
 public:
  AsyncJobScope();
  ~AsyncJobScope();
  AsyncJobScope(const AsyncJobScope&) = delete;
  AsyncJobScope& operator=(const AsyncJobScope&) = delete;

 private:
  bool previous_;
};

// Called with a gradient; returns a replacement, or an undefined tensor to keep it.
using GradHook = std::function<Tensor(const Tensor&)>;
// A registered hook and the id that removes it; `slot` is the output of a
// node a non-leaf's hook is for (0 for a leaf's).
struct RegisteredHook {
  std::uint64_t id;
  std::uint32_t slot;
  GradHook fn;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;  // in elements
  std::int64_t offset = 0;
  std::int64_t numel = 1;
  DType dtype = DType::Float32;

  // Autograd. A leaf requires grad when requires_grad is set; a non-leaf
  // when it has a grad_fn.
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;
  std::uint32_t output_nr = 0;
  std::weak_ptr<Node> grad_accumulator;  // leaves: their AccumulateGrad node
  std::shared_ptr<TensorImpl> grad;      // leaves: accumulated gradient
  std::vector<RegisteredHook> hooks;     // leaves: run before accumulation
  bool is_view = false;                  // shares storage with another tensor
  // A view made by make_view: the tensor owning the memory it views (never
  // itself such a view). A recorded in-place write into a view or into its
  // base rebuilds the histories of the base and of its other live views
  // (ops/elementwise.cpp), as PyTorch's; detach() makes a base of its own.
  std::shared_ptr<TensorImpl> view_base;
  // A view made with grad mode off of a tensor that required grad (or of
  // such a view): it has none of that tensor's history, so a recorded write
  // into it is refused, as PyTorch's, until a write into an overlapping
  // view gives it one.
  bool view_without_history = false;
  // A base: its views, registered by make_view (read them with live_views).
  std::vector<std::weak_ptr<TensorImpl>> views;
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

  const Shape& shape() const { return impl_->shape; }
  const Shape& strides() const { return impl_->strides; }
  std::int64_t offset() const { return impl_->offset; }
  DType dtype() const { return impl_->dtype; }
  std::int64_t numel() const { return impl_->numel; }
  std::int64_t dim() const { return static_cast<std::int64_t>(impl_->shape.size()); }
  std::int64_t size(std::int64_t d) const { return impl_->shape[static_cast<std::size_t>(d)]; }
  bool is_contiguous() const;
  Storage& storage() const { return *impl_->storage; }

  template <typename T>
  T* data() const {
    return static_cast<T*>(impl_->storage->data) + impl_->offset;
  }

  bool requires_grad() const { return impl_->requires_grad || impl_->grad_fn != nullptr; }
  bool is_leaf() const { return impl_->grad_fn == nullptr; }
  const std::shared_ptr<Node>& grad_fn() const { return impl_->grad_fn; }
  std::uint32_t version() const { return impl_->storage->version.load(std::memory_order_relaxed); }
  void bump_version() const { impl_->storage->version.fetch_add(1, std::memory_order_relaxed); }

  bool same(const Tensor& other) const { return impl_ == other.impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// Contiguous strides for a shape.
Shape contiguous_strides(const Shape& shape);

// The most dims a tensor may have (PyTorch's limit): shape arguments longer
// than this are refused, and so are the ops that would add a dim past it.
inline constexpr std::int64_t kMaxDims = 64;
// Element count; throws a RangeError naming `op` on negative sizes or overflow.
std::int64_t checked_numel(const Shape& shape, const char* op);

// An empty TensorImpl from the per-thread object pool.
std::shared_ptr<TensorImpl> new_tensor_impl();
// A new contiguous tensor with uninitialised memory.
Tensor empty(const Shape& shape, DType dtype, const char* op);
// A view of `base`'s storage (no autograd edges: the caller records them),
// registered with the tensor owning that storage.
Tensor make_view(const Tensor& base, Shape shape, Shape strides, std::int64_t offset);
// `source`'s storage in another layout, as its owner (source: a new tensor
// nothing else holds, its elements laid out by the caller): not a view.
Tensor relayout(const Tensor& source, Shape shape, Shape strides);
// The views of `base` (its view_base) still alive. Views are made on any
// thread, so the registry has a lock.
std::vector<std::shared_ptr<TensorImpl>> live_views(TensorImpl& base);
// The same data and version counter, without autograd history.
Tensor detach(const Tensor& t);

// "[2, 3]" for messages.
std::string shape_str(const Shape& shape);

}  // namespace tapegrad
