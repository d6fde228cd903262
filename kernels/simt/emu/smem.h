// Host SIMT emulation: where this OS thread's static shared memory lives.
// `__shared__` variables are thread_local (defs.h). Non-template ones sit in the TLS section
// goat_shared; GCC ignores that section attribute for local statics of template instantiations,
// so those are found instead through the executable's symbol table: TLS symbols of function-local
// statics (`_ZZ...`) whose enclosing function's name contains "_kernel" (goatlm's naming rule for
// __global__ functions). Both kinds are poisoned at each block start. For the address checks of
// ldmatrix and cp.async, any address in one of this thread's static TLS blocks counts as shared.
#pragma once

#include <cstddef>
#include <vector>

namespace goat::simt::detail {

struct Region {
  unsigned char* p = nullptr;
  size_t n = 0;
  bool contains(const unsigned char* c, size_t bytes) const { return p && c >= p && c + bytes <= p + n; }
};

// This OS thread's static shared memory (poisoned at every block start when config().poison).
const std::vector<Region>& static_shared_regions();
// This OS thread's static TLS blocks, one per loaded module that has a TLS segment.
const std::vector<Region>& tls_blocks();

}  // namespace goat::simt::detail
