// Stub CUDA backend for builds without it: says so. Asking for device "cuda" in such a build is
// an error at config time ("built without CUDA"), never a silent CPU run.
#include "core/device_info.h"

namespace goat {

std::string cuda_status() { return "not built (configure with nvcc present or -DGOATLM_CUDA=EMU)"; }

}  // namespace goat
