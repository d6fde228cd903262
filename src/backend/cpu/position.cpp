// CPU position kernels: OpenMP over (batch, head) rows once the work is large enough.
#include "backend/cpu/position.h"

#include <vector>

#include "kernels/kernel_math.h"

namespace goat::cpu {

namespace {
float* row_ptr(const HeadRows& x, int64_t b, int64_t h, int64_t t) {
  return x.x + b * x.s[0] + h * x.s[1] + t * x.s[2];
}
}  // namespace

void rope_rotate(const HeadRows& x, const float* cos, const float* sin, int64_t pos0, float sign, bool interleaved) {
  const int64_t half = x.d / 2, pair_stride = interleaved ? 2 : 1, partner = interleaved ? 1 : half;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < x.b; ++b)
    for (int64_t h = 0; h < x.h; ++h)
      for (int64_t t = 0; t < x.t; ++t) {
        float* row = row_ptr(x, b, h, t);
        const float* c = cos + (pos0 + t) * half;
        const float* s = sin + (pos0 + t) * half;
        for (int64_t i = 0; i < half; ++i)
          kmath::rope_rotate_pair(row[i * pair_stride], row[i * pair_stride + partner], c[i], sign * s[i]);
      }
}

void goat_lanes_forward(const HeadRows& q, const HeadRows& k, const float* a, const float* b, const float* cq,
                        const float* sq, const float* ck, const float* sk, int64_t r, int64_t dc, float qscale) {
  const int64_t H = q.h, G = q.h / k.h, D = q.d;
  const bool parallel = q.b * H * (q.t + k.t) * D > (1 << 16);
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t bh = 0; bh < q.b * H; ++bh) {
    const int64_t hk = bh % H / G;
    for (int64_t i = 0; i < q.t; ++i) {
      float* row = row_ptr(q, bh / H, bh % H, i);
      for (int64_t c = 0; c < dc; ++c) row[c] *= qscale;
      for (int64_t j = 0; j < r; ++j)
        kmath::goat_q_lanes(a[hk * r + j], b[hk * r + j], cq[i * r + j], sq[i * r + j], row[dc + j], row[dc + r + j]);
      for (int64_t c = dc + 2 * r; c < D; ++c) row[c] = 0.f;
    }
  }
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t bh = 0; bh < k.b * k.h; ++bh) {
    for (int64_t t = 0; t < k.t; ++t) {
      float* row = row_ptr(k, bh / k.h, bh % k.h, t);
      for (int64_t j = 0; j < r; ++j) row[dc + j] = ck[t * r + j], row[dc + r + j] = sk[t * r + j];
      for (int64_t c = dc + 2 * r; c < D; ++c) row[c] = 0.f;
    }
  }
}

void goat_lanes_backward(const HeadRows& dq, const HeadRows& dk, float* da, float* db, const float* cq,
                         const float* sq, int64_t r, int64_t dc, float qscale) {
  const int64_t H = dq.h, G = dq.h / dk.h, D = dq.d;
  std::vector<double> pa(static_cast<size_t>(dq.b * H * r), 0.0), pb(pa.size(), 0.0);  // per (b, h) partials
  const bool parallel = dq.b * H * (dq.t + dk.t) * D > (1 << 16);
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t bh = 0; bh < dq.b * H; ++bh) {
    for (int64_t i = 0; i < dq.t; ++i) {
      float* row = row_ptr(dq, bh / H, bh % H, i);
      for (int64_t j = 0; j < r; ++j)
        kmath::goat_lane_grads(row[dc + j], row[dc + r + j], cq[i * r + j], sq[i * r + j], pa[bh * r + j],
                               pb[bh * r + j]);
      for (int64_t c = 0; c < dc; ++c) row[c] *= qscale;
      for (int64_t c = dc; c < D; ++c) row[c] = 0.f;
    }
  }
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t bh = 0; bh < dk.b * dk.h; ++bh)
    for (int64_t t = 0; t < dk.t; ++t) {
      float* row = row_ptr(dk, bh / dk.h, bh % dk.h, t);
      for (int64_t c = dc; c < D; ++c) row[c] = 0.f;
    }
  // (b, h) partials added in order, as float, into the kv head's gradient (the CUDA kernel's order).
  for (int64_t bh = 0; bh < dq.b * H; ++bh) {
    const int64_t hk = bh % H / G;
    for (int64_t j = 0; j < r; ++j) {
      da[hk * r + j] += static_cast<float>(pa[bh * r + j]);
      db[hk * r + j] += static_cast<float>(pb[bh * r + j]);
    }
  }
}

}  // namespace goat::cpu
