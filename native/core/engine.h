// The backward engine: counts each node's dependencies from the roots, then
// runs ready nodes latest first, alone or (see core/schedule.h) several at
// once on the thread pool. Gradients are summed in creation order, so results
// do not depend on the schedule or the thread count. Every call owns its
// state (its own ready queue), so calls from different threads do not
// interfere.
#pragma once

#include <vector>

#include "core/autograd.h"

namespace tapegrad {

struct BackwardOptions {
  bool retain_graph = false;
  bool create_graph = false;
};

// Refuses, naming `op`, roots that do not require grad, and gradients that
// do not match their roots (an undefined one needs a one-element root).
void check_roots(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_roots, const char* op);

// Accumulates d(roots)/d(leaf) into every leaf's .grad. `grad_roots` holds
// one gradient per root (undefined: ones, allowed for scalar roots only).
void backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_roots, BackwardOptions options);

// Returns d(roots)/d(inputs) without touching .grad. An input the roots do
// not depend on gives an undefined tensor when allow_unused, else an error.
std::vector<Tensor> grad(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_roots,
                         const std::vector<Tensor>& inputs, BackwardOptions options, bool allow_unused);

// True while backward() or grad() runs on this thread (its hooks call JS,
// which may try to start an async job through the same nodes).
bool backward_running();

// a + b for gradients of one shape; differentiable when grad mode is on.
Tensor accumulate(const Tensor& a, const Tensor& b);

}  // namespace tapegrad
