// linalg ops.
#include "binding/addon.h"
#include "binding/convert.h"

namespace tapegrad::binding {

void register_linalg(Napi::Env env, Napi::Object exports) {}

}  // namespace tapegrad::binding
