// The CUDA backend's one way to throw: goat::Error("[where] msg"), compiled by the host compiler
// (the .cu files cannot include fmt under nvcc; see cuda_runtime_util.h).
#include <string>

#include "core/check.h"

namespace goat::cuda {

[[noreturn]] void raise(const std::string& where, const std::string& msg) { throw Error("[" + where + "] " + msg); }

}  // namespace goat::cuda
