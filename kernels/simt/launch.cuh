// launch(kernel, grid, block, shared_bytes, stream, args...): the one way goatlm starts a kernel.
// Under nvcc it is kernel<<<grid, block, shared_bytes, stream>>>(args...) followed by
// cudaGetLastError(); under the emulation it validates the configuration like the runtime does
// and runs the grid on the fiber scheduler. Arguments are converted to the kernel's parameter
// types and copied once, as CUDA copies them into the parameter buffer; every thread then gets
// its own by-value copy.
#pragma once

#include <tuple>
#include <type_traits>
#include <utility>

namespace goat::simt {

template <typename... KArgs, typename... Args>
cudaError_t launch(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream,
                   Args&&... args) {
  static_assert(sizeof...(KArgs) == sizeof...(Args), "launch: argument count differs from the kernel's");
#if defined(__CUDACC__)
  kernel<<<grid, block, shared_bytes, stream>>>(std::forward<Args>(args)...);
  return cudaGetLastError();
#else
  const std::tuple<std::decay_t<KArgs>...> params(std::forward<Args>(args)...);
  return launch_grid(reinterpret_cast<const void*>(kernel), grid, block, shared_bytes, stream,
                     [&] { std::apply(kernel, params); });
#endif
}

}  // namespace goat::simt
