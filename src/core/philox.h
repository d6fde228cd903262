// Counter-based Philox 4x32-10 RNG (Salmon et al., "Parallel random numbers: as easy as 1, 2,
// 3", SC'11). A stream is keyed by (seed, purpose) and indexed by a 128-bit counter made of
// (step, rank, index), so any element of any stream is computable independently: runs are
// reproducible across thread counts, ranks and restarts.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

namespace goat {

struct Philox {
  using Block = std::array<uint32_t, 4>;

  static constexpr Block round_fn(Block c, uint32_t k0, uint32_t k1) {
    constexpr uint64_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;
    const uint64_t p0 = M0 * c[0], p1 = M1 * c[2];
    return {static_cast<uint32_t>(p1 >> 32) ^ c[1] ^ k0, static_cast<uint32_t>(p1),
            static_cast<uint32_t>(p0 >> 32) ^ c[3] ^ k1, static_cast<uint32_t>(p0)};
  }

  // Philox4x32-10 of counter c under key (k0, k1).
  static constexpr Block block(Block c, uint32_t k0, uint32_t k1) {
    for (int r = 0; r < 10; ++r) {
      c = round_fn(c, k0, k1);
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    return c;
  }
};

// Purposes keep streams independent: init weights, data sampling, dropout, sampling, tests.
enum class RngPurpose : uint32_t { init = 1, data = 2, dropout = 3, sample = 4, test = 5, eval = 6 };

// A stream of uniforms/normals for one (seed, purpose, step, rank); element i is pure.
class Rng {
 public:
  Rng(uint64_t seed, RngPurpose purpose, uint64_t step = 0, uint32_t rank = 0)
      : k0_(static_cast<uint32_t>(seed)), k1_(static_cast<uint32_t>(seed >> 32) ^ (static_cast<uint32_t>(purpose) * 0x85EBCA6Bu)),
        step_(step), rank_(rank) {}

  // Four 32-bit words for block index i.
  Philox::Block bits(uint64_t i) const {
    return Philox::block({static_cast<uint32_t>(i), static_cast<uint32_t>(i >> 32),
                          static_cast<uint32_t>(step_) ^ (rank_ * 0x9E3779B9u), static_cast<uint32_t>(step_ >> 32)},
                         k0_, k1_);
  }
  // Uniform in [0, 1) with 24 bits, element i of the stream.
  float uniform(uint64_t i) const { return static_cast<float>(bits(i / 4)[i % 4] >> 8) * 0x1p-24f; }
  // Uniform 64-bit integer, element i of the stream.
  uint64_t u64(uint64_t i) const {
    const auto b = bits(i / 2);
    return i % 2 ? (static_cast<uint64_t>(b[2]) << 32 | b[3]) : (static_cast<uint64_t>(b[0]) << 32 | b[1]);
  }
  // Standard normal (Box-Muller on one block), element i of the stream.
  float normal(uint64_t i) const {
    const auto b = bits(i / 2);
    const double u1 = (static_cast<double>(b[0] >> 8) + 1.0) * 0x1p-24;  // (0, 1]
    const double u2 = static_cast<double>(b[1] >> 8) * 0x1p-24;
    const double r = std::sqrt(-2.0 * std::log(u1));
    const double a = 6.283185307179586 * u2;
    return static_cast<float>(i % 2 ? r * std::sin(a) : r * std::cos(a));
  }

 private:
  uint32_t k0_, k1_;
  uint64_t step_;
  uint32_t rank_;
};

}  // namespace goat
