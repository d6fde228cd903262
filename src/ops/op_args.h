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
  float* data = nullptr;
  int64_t rows = 0, cols = 0, ld = 0;
};

inline bool present(const Tensor& t) { return t.data != nullptr; }

// Throws unless every present tensor is on the CPU. The CUDA backend is not linked into this
// build's op layer yet, so a CUDA tensor is an error, never a silent CPU run.
void require_cpu(const char* op, std::initializer_list<const Tensor*> ts);

// f32 and (optionally) contiguous.
void require_f32(const char* op, const char* name, const Tensor& t);
void require_contiguous_f32(const char* op, const char* name, const Tensor& t);

// Views t as (rows, last dim): last stride 1 and leading dims collapsible to one uniform stride.
MatView as_matrix(const char* op, const char* name, const Tensor& t);

// Shape (d0, ..., dk-1, last) with the leading dims of `like` and a new last dim.
Shape with_last_dim(const Shape& like, int64_t last);

}  // namespace goat::ops
