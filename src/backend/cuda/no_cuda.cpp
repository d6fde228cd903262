// Stub CUDA backend for builds without it (GOATLM_CUDA=OFF, or AUTO without nvcc): every entry
// point throws "[op] built without CUDA", and cuda_status() says so. Asking for device "cuda" in
// such a build is an error, never a silent CPU run.
#include "backend/cuda/cuda_ops.h"
#include "core/check.h"
#include "core/device_info.h"

namespace goat {

std::string cuda_status() { return "not built (configure with nvcc present or -DGOATLM_CUDA=EMU)"; }

namespace cuda {

namespace {
[[noreturn]] void missing(const char* op) { fail(op, "built without CUDA (configure with nvcc or -DGOATLM_CUDA=EMU)"); }
}  // namespace

bool built() { return false; }
bool emulated() { return false; }
int device_count() { return 0; }
void* alloc(size_t) { missing("cuda alloc"); }
void free(void* p) {
  if (p) missing("cuda alloc");
}
void release_cached() {}
size_t cached_bytes() { return 0; }
void copy_to_device(void*, const void*, size_t) { missing("cuda copy"); }
void copy_to_host(void*, const void*, size_t) { missing("cuda copy"); }
void copy_device(void*, const void*, size_t) { missing("cuda copy"); }
void memset_zero(void*, size_t) { missing("cuda copy"); }
void synchronize() { missing("cuda"); }
void* compute_stream() { missing("cuda stream"); }
void* stream_create() { missing("cuda stream"); }
void stream_destroy(void* s) {
  if (s) missing("cuda stream");
}
void* event_create() { missing("cuda event"); }
void event_destroy(void* e) {
  if (e) missing("cuda event");
}
void event_record(void*, void*) { missing("cuda event"); }
void stream_wait_event(void*, void*) { missing("cuda stream"); }
void stream_synchronize(void*) { missing("cuda stream"); }
void gemm(bool, bool, int64_t, int64_t, int64_t, float, const void*, int64_t, const void*, int64_t, float, void*,
          int64_t, DType, DType) {
  missing("gemm");
}
void gelu_forward(void*, const void*, int64_t, DType) { missing("gelu"); }
void gelu_backward(void*, const void*, const void*, int64_t, DType) { missing("gelu"); }
void add_forward(void*, const void*, const void*, int64_t, DType) { missing("add"); }
void layernorm_forward(void*, float*, float*, const void*, const void*, const void*, void*, const void*, const void*,
                       int64_t, int64_t, float, DType) {
  missing("layernorm");
}
void layernorm_backward(void*, float*, float*, const void*, const void*, const void*, const float*, const float*,
                        int64_t, int64_t, DType) {
  missing("layernorm");
}
void linear_forward(void*, int64_t, const void*, int64_t, const void*, const void*, int64_t, int64_t, int64_t, DType) {
  missing("linear");
}
void linear_backward(void*, int64_t, float*, float*, const void*, int64_t, const void*, int64_t, const void*, int64_t,
                     int64_t, int64_t, bool, DType) {
  missing("linear");
}
void embedding_forward(void*, const int32_t*, const void*, const void*, int64_t, int64_t, int64_t, int64_t, int64_t,
                       DType) {
  missing("embedding");
}
void embedding_backward(float*, float*, const void*, const int32_t*, int64_t, int64_t, int64_t, int64_t, int64_t,
                        DType) {
  missing("embedding");
}
double cross_entropy(float*, void*, const void*, const int32_t*, int64_t, int64_t, float, int32_t, DType) {
  missing("cross_entropy");
}
int64_t count_targets(const int32_t*, int64_t, int32_t) { missing("cross_entropy"); }
void attention_forward(const AttentionDesc&, DType) { missing("attention"); }
void attention_backward(const AttentionDesc&, DType) { missing("attention"); }
bool attention_fused(DType, int64_t) { return false; }
int64_t attention_flash_calls() { return 0; }
void adamw_update(float*, const float*, float*, float*, bf16*, int64_t, const AdamWStep&) { missing("adamw"); }
double sum_squares(const float*, int64_t) { missing("sum_squares"); }

void rope_rotate(const HeadRows&, const float*, const float*, int64_t, float, bool, DType) { missing("rope"); }
void goat_lanes_forward(const GoatLanesDesc&, DType) { missing("goat_lanes"); }
void goat_lanes_backward(const GoatLanesDesc&, DType) { missing("goat_lanes"); }
}  // namespace cuda
}  // namespace goat
