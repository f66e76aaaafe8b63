// Per-environment state of the addon (one per main thread or worker).
#pragma once

#include <napi.h>

#include <cstdint>

namespace tapegrad::binding {

struct AddonData {
  Napi::FunctionReference tapegrad_error;  // the TS TapegradError class
  std::int64_t live_handles = 0;           // handles not yet disposed
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

}  // namespace tapegrad::binding
