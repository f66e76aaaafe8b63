// Per-environment state of the addon (one per main thread or worker).
#pragma once

#include <napi.h>

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace tapegrad::binding {

// One entry of the handle table. Disposing empties `tensor` and bumps
// `generation`, so that handles made earlier for the slot no longer match.
struct HandleSlot {
  Tensor tensor;
  std::uint64_t generation = 1;
  std::int64_t reported_bytes = 0;  // owned bytes counted in the external memory told to V8
};

struct AddonData {
  Napi::FunctionReference tapegrad_error;  // the TS TapegradError class
  std::int64_t live_handles = 0;           // handles not yet disposed
  std::vector<HandleSlot> handles;
  std::vector<std::uint32_t> free_slots;
  // Change of external memory not yet told to V8 (sent in steps of 1 MiB,
  // not per tensor).
  std::int64_t unreported_bytes = 0;
};

AddonData& addon_data(Napi::Env env);

// Each family adds its functions to the exports.
void register_tensor(Napi::Env env, Napi::Object exports);
void register_autograd(Napi::Env env, Napi::Object exports);
void register_elementwise(Napi::Env env, Napi::Object exports);
void register_unary(Napi::Env env, Napi::Object exports);
void register_reduce(Napi::Env env, Napi::Object exports);
void register_shape(Napi::Env env, Napi::Object exports);
void register_linalg(Napi::Env env, Napi::Object exports);
void register_nn(Napi::Env env, Napi::Object exports);
void register_attention(Napi::Env env, Napi::Object exports);
void register_optim(Napi::Env env, Napi::Object exports);
void register_runtime(Napi::Env env, Napi::Object exports);
void register_trace(Napi::Env env, Napi::Object exports);

}  // namespace tapegrad::binding
