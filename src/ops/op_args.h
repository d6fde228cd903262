// Argument checks shared by the op dispatch layer (ops/*.cpp): device, dtype, contiguity and
// the "matrix view" rule, each failing with a message that names the op and the argument, e.g.
// "[linear] expected in to be f32, got bf16". Only ops/ branches on device (design.md §2).
#pragma once

#include <cstdint>
#include <initializer_list>

#include "core/tensor.h"

namespace goat::ops {

// A tensor (..., cols) seen as a row-major matrix: rows = product of leading dims, row stride ld.
struct MatView {
  float* data = nullptr;  // f32 views (the CPU path)
  void* ptr = nullptr;    // the same address for any dtype (the CUDA path)
  int64_t rows = 0, cols = 0, ld = 0;
};

inline bool present(const Tensor& t) { return t.data != nullptr; }

// Throws unless every present tensor is on the CPU (ops without a CUDA path yet): a CUDA tensor is
// an error, never a silent CPU run.
void require_cpu(const char* op, std::initializer_list<const Tensor*> ts);

// True when the op's present tensors are on CUDA, false when on the CPU; mixed devices throw.
// The CUDA branch calls backend/cuda/cuda_ops.h (which throws "built without CUDA" in a stub build).
bool on_cuda(const char* op, std::initializer_list<const Tensor*> ts);

// The activation dtype an op runs in: f32 on the CPU; on CUDA that of `ref` (f32 or bf16).
DType act_dtype(const Tensor& ref, bool cuda);

// The dtype an output (or a GEMM operand) may have: act, or on the CPU also bf16 for the ops that
// produce or consume the CPU bf16 model's rounded activations (layernorm and GELU forward outputs,
// linear operands); the kernels round to nearest even.
DType cpu_bf16_or(const Tensor& t, bool cuda, DType act);
// The bf16 bits of a bf16 tensor (checks the dtype).
uint16_t* bf16_bits(const Tensor& t);

// dtype `want` (and contiguous): "[op] expected NAME to be f32, got bf16".
void require_dtype(const char* op, const char* name, const Tensor& t, DType want);
void require_contiguous(const char* op, const char* name, const Tensor& t, DType want);

// f32 and (optionally) contiguous.
void require_f32(const char* op, const char* name, const Tensor& t);
void require_contiguous_f32(const char* op, const char* name, const Tensor& t);

// Views t as (rows, last dim): last stride 1 and leading dims collapsible to one uniform stride.
MatView as_matrix(const char* op, const char* name, const Tensor& t, DType want = DType::f32);

// Shape (d0, ..., dk-1, last) with the leading dims of `like` and a new last dim.
Shape with_last_dim(const Shape& like, int64_t last);

}  // namespace goat::ops
