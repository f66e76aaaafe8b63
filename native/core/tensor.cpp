#include "core/tensor.h"

#include <algorithm>
#include <limits>
#include <mutex>
#include <string>

#include "core/grad_mode.h"
#include "runtime/allocator.h"
#include "runtime/error.h"
#include "runtime/object_pool.h"

namespace tapegrad {

Storage::Storage(std::size_t n, const char* op) : data(runtime::allocate(n, op)), nbytes(n) {}
Storage::~Storage() { runtime::release(data, nbytes); }

namespace {
// Set on a worker thread while an async job runs there. Jobs never share
// a locked storage (locking fails when it is already locked), so a job may
// write whatever is locked while it runs.
thread_local bool t_in_async_job = false;
}  // namespace

bool locked_against_writes(const Storage& s) { return s.locks.load() != 0 && !t_in_async_job; }
bool in_async_job() { return t_in_async_job; }

AsyncJobScope::AsyncJobScope() : previous_(t_in_async_job) { t_in_async_job = true; }
AsyncJobScope::~AsyncJobScope() { t_in_async_job = previous_; }

bool Tensor::is_contiguous() const {
  // An empty tensor has no elements to lay out (as PyTorch): its strides may
  // stand for more elements than int64 counts ([0, 2**40, 2**40]).
  if (impl_->numel == 0) return true;
  std::int64_t expected = 1;
  for (std::size_t i = impl_->shape.size(); i-- > 0;) {
    if (impl_->shape[i] == 1) continue;
    if (impl_->strides[i] != expected) return false;
    expected *= impl_->shape[i];
  }
  return true;
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  std::int64_t stride = 1;
  for (std::size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    // Only an empty tensor's strides can pass int64 (its other dims may be
    // huge): they address nothing, so they saturate.
    if (__builtin_mul_overflow(stride, shape[i] > 0 ? shape[i] : 1, &stride))
      stride = std::numeric_limits<std::int64_t>::max();
  }
  return strides;
}

std::int64_t checked_numel(const Shape& shape, const char* op) {
  std::int64_t n = 1;
  for (std::int64_t s : shape) {
    if (s < 0) throw_range_error(op, ": dimensions must be non-negative integers, got shape ", shape_str(shape));
    if (s != 0 && n > std::numeric_limits<std::int64_t>::max() / 16 / s)
      throw_range_error(op, ": shape ", shape_str(shape), " has too many elements");
    n *= s;
  }
  return n;
}

std::shared_ptr<TensorImpl> new_tensor_impl() {
  return std::allocate_shared<TensorImpl>(runtime::PoolAllocator<TensorImpl>());
}

Tensor empty(const Shape& shape, DType dtype, const char* op) {
  auto impl = new_tensor_impl();
  impl->numel = checked_numel(shape, op);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  impl->storage = std::allocate_shared<Storage>(runtime::PoolAllocator<Storage>(), static_cast<std::size_t>(impl->numel) * dtype_size(dtype), op);
  return Tensor(std::move(impl));
}

namespace {
std::mutex g_views_mutex;  // every tensor's `views`
}  // namespace

namespace {
std::shared_ptr<TensorImpl> with_layout(const Tensor& t, Shape shape, Shape strides, std::int64_t offset) {
  auto impl = new_tensor_impl();
  impl->storage = t.impl()->storage;
  impl->numel = 1;
  for (std::int64_t s : shape) impl->numel *= s;
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = t.dtype();
  return impl;
}
}  // namespace

Tensor make_view(const Tensor& base, Shape shape, Shape strides, std::int64_t offset) {
  auto impl = with_layout(base, std::move(shape), std::move(strides), offset);
  impl->is_view = true;
  impl->view_base = base.impl()->view_base ? base.impl()->view_base : base.impl_ptr();
  impl->view_without_history = base.impl()->view_without_history || (!grad_enabled() && base.requires_grad());
  {
    std::lock_guard<std::mutex> lock(g_views_mutex);
    auto& views = impl->view_base->views;
    // Dead views are dropped when the list is full, so it stays within
    // twice the live ones (a parameter viewed every step).
    if (views.size() == views.capacity())
      views.erase(std::remove_if(views.begin(), views.end(), [](const auto& v) { return v.expired(); }), views.end());
    views.push_back(impl);
  }
  return Tensor(std::move(impl));
}

Tensor relayout(const Tensor& source, Shape shape, Shape strides) {
  return Tensor(with_layout(source, std::move(shape), std::move(strides), source.offset()));
}

std::vector<std::shared_ptr<TensorImpl>> live_views(TensorImpl& base) {
  std::vector<std::shared_ptr<TensorImpl>> out;
  std::lock_guard<std::mutex> lock(g_views_mutex);
  for (const auto& v : base.views)
    if (auto impl = v.lock()) out.push_back(std::move(impl));
  return out;
}

Tensor detach(const Tensor& t) {
  auto impl = new_tensor_impl();
  impl->storage = t.impl()->storage;
  impl->shape = t.shape();
  impl->strides = t.strides();
  impl->offset = t.offset();
  impl->numel = t.numel();
  impl->dtype = t.dtype();
  impl->is_view = true;
  return Tensor(std::move(impl));
}

std::string shape_str(const Shape& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

}  // namespace tapegrad
