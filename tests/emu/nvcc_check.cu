// Compile-only check (test emu_nvcc_compile): every emulation test kernel and the launch helper
// compiled by nvcc for a real architecture, so the inline-PTX wrappers (mma, ldmatrix, cp.async)
// and the portable kernel idioms are proven to be valid CUDA. Never run here (no GPU).
#include "kernels/atomic_kernels.cuh"
#include "kernels/barrier_kernels.cuh"
#include "kernels/convert_kernels.cuh"
#include "kernels/mma_kernels.cuh"
#include "kernels/planted_kernels.cuh"
#include "kernels/runtime_kernels.cuh"
#include "kernels/warp_kernels.cuh"

namespace goat::emu_test {

// Host entry points that launch each kernel through goat::simt::launch (<<<>>> under nvcc).
cudaError_t launch_all(void* p, cudaStream_t s) {
  using goat::simt::launch;
  auto* f = static_cast<float*>(p);
  auto* i = static_cast<int*>(p);
  auto* u = static_cast<uint32_t*>(p);
  auto* h = static_cast<__nv_bfloat16*>(p);
  cudaError_t e = cudaSuccess;
  auto acc = [&](cudaError_t r) {
    if (e == cudaSuccess) e = r;
  };
  acc(launch(atomics_kernel, dim3(1), dim3(32), 0, s, i, static_cast<AtomicCounters*>(p), i));
  acc(launch(bf16_atomics_kernel, dim3(1), dim3(32), 0, s, h, static_cast<__nv_bfloat162*>(p)));
  acc(launch(block_sum_kernel, dim3(1), dim3(256), 0, s, f, f));
  acc(launch(transpose_kernel, dim3(1), dim3(32, 8), 0, s, f, f, 32, 32));
  acc(launch(sync_vote_kernel, dim3(1), dim3(32), 0, s, i, i));
  acc(launch(bf16_convert_kernel, dim3(1), dim3(32), 0, s, f, h, f, 32));
  acc(launch(fragment_probe_kernel, dim3(1), dim3(32), 0, s, h, h, u, u, u, f));
  acc(launch(ldmatrix_probe_kernel, dim3(1), dim3(32), 0, s, u));
  acc(launch(gemm_bf16_kernel<false>, dim3(1), dim3(128), 0, s, h, h, f, 32, 32, 32));
  acc(launch(gemm_bf16_kernel<true>, dim3(1), dim3(128), 0, s, h, h, f, 32, 32, 32));
  acc(launch(attention_step_kernel, dim3(1), dim3(32), 0, s, h, h, h, f));
  acc(launch(cp_async_probe_kernel, dim3(1), dim3(32), 0, s, f, f));
  acc(launch(shift_kernel<false>, dim3(1), dim3(32), 128, s, f, f));
  acc(launch(shift_kernel<true>, dim3(1), dim3(32), 128, s, f, f));
  acc(launch(uninit_static_kernel, dim3(1), dim3(64), 0, s, f));
  acc(launch(uninit_static_template_kernel<64>, dim3(1), dim3(64), 0, s, f));
  acc(launch(uninit_dynamic_kernel, dim3(1), dim3(64), 256, s, f));
  acc(launch(oob_write_kernel, dim3(1), dim3(32), 0, s, f, 32));
  acc(launch(oob_shared_kernel, dim3(1), dim3(32), 128, s, f));
  acc(launch(deadlock_kernel, dim3(1), dim3(32), 0, s, i));
  acc(launch(diverged_mask_kernel, dim3(1), dim3(32), 0, s, i));
  acc(launch(cp_async_unwaited_kernel, dim3(1), dim3(32), 0, s, f, f));
  acc(launch(fill_kernel, dim3(1), dim3(32), 0, s, f, 1.0f, 32));
  const float scale[4] = {1, 2, 3, 4};
  acc(cudaMemcpyToSymbol(kScale, scale, sizeof scale));
  acc(launch(scale_kernel, dim3(1), dim3(32), 0, s, f, 32));
  acc(launch(dyn_smem_kernel, dim3(1), dim3(32), 128, s, f));
  acc(launch(shfl_kernel, dim3(1), dim3(32), 0, s, f, f, 0, 1, 32));
  acc(launch(shfl_split_kernel, dim3(1), dim3(32), 0, s, static_cast<double*>(p), static_cast<double*>(p), h));
  acc(launch(vote_kernel, dim3(1), dim3(32), 0, s, i, 0xffffffffu, u));
  acc(launch(syncwarp_kernel, dim3(1), dim3(32), 0, s, i, i));
  return e;
}

}  // namespace goat::emu_test
