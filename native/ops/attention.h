// Scaled dot-product attention, fused: softmax(scale·Q·Kᵀ + mask)·V with
// PyTorch's semantics (torch.nn.functional.scaled_dot_product_attention).
#pragma once

#include <optional>

#include "core/tensor.h"

namespace tapegrad::ops {

// q [..., L, E], k [..., S, E], v [..., S, Ev] → [..., L, Ev]; the batch dims
// of q, k and v broadcast together. `attn_mask` (may be undefined) broadcasts
// to the attention weights [..., L, S]: an int32 mask is boolean (nonzero =
// the position takes part), a float mask of q's dtype is added to the scores
// (and is differentiable). `is_causal` lets query i see keys j <= i only and
// excludes a mask. `scale` defaults to 1/sqrt(E). A row with every position
// masked out is NaN, as the softmax of nothing but -inf.
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& attn_mask,
                                    bool is_causal, std::optional<double> scale);

}  // namespace tapegrad::ops
