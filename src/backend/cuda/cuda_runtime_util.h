// Internal to the CUDA backend (.cu files only): the one stream, error checks with context and
// dtype dispatch. Every runtime call and kernel launch goes through check(), so a failure reads
// "[cuda layernorm] forward kernel: cudaErrorInvalidValue (invalid argument)".
#pragma once

#include <string>

#include "core/dtype.h"
#include "simt/simt.cuh"

namespace goat::cuda {

cudaStream_t stream();  // created on first use; every kernel and copy of the backend runs on it

// Throws goat::Error("[where] msg") (errors.cpp). The .cu files never include fmt (core/check.h):
// nvcc's front end rejects its consteval format strings, so messages are built with std::string.
[[noreturn]] void raise(const std::string& where, const std::string& msg);

inline void require(bool ok, const char* where, const std::string& msg) {
  if (!ok) [[unlikely]]
    raise(where, msg);
}

inline void check(cudaError_t e, const char* op, const char* what) {
  if (e == cudaSuccess) [[likely]]
    return;
  raise(std::string("cuda ") + op,
        std::string(what) + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}

// Calls f.template operator()<T>() with T = float or __nv_bfloat16 for dt.
template <typename F>
void dispatch_dtype(DType dt, F&& f) {
  if (dt == DType::f32)
    f.template operator()<float>();
  else
    f.template operator()<__nv_bfloat16>();
}

}  // namespace goat::cuda
