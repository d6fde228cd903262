// Runs the CUDA op-case table (cuda_cases.cpp) in fp32 and bf16 against the CPU backend with the
// tolerance rule of cuda_case.h. Skipped (never passed) where the build has no CUDA backend or
// there is no device: the real build on a machine without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "backend/cuda/cuda_ops.h"
#include "core/device_info.h"
#include "core/philox.h"
#include "cuda_case.h"
#include "tolerance.h"

namespace goat::cuda_test {
namespace {

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (char ch : s) h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ull;
  return h;
}

struct RunOut {
  std::vector<std::vector<double>> outs;  // per compared arg
  std::vector<std::string> names;
  std::vector<bool> act;                  // stored in the run's dtype
  double scalar = 0;
};

std::vector<float> initial_values(const CudaCase& c, size_t i) {
  const ArgSpec& a = c.args[i];
  std::vector<float> v(static_cast<size_t>(a.shape.numel()));
  if (a.role == Role::out) {
    std::fill(v.begin(), v.end(), std::numeric_limits<float>::quiet_NaN());
    return v;
  }
  const Rng rng(fnv1a(c.name), RngPurpose::test, i, 0);
  for (size_t j = 0; j < v.size(); ++j) {
    const float x = rng.normal(j) * a.scale;
    v[j] = a.positive ? std::fabs(x) + 0.5f : x;
  }
  return v;
}

// Runs the case on `dev` with activations in `act`; round_act: CPU run on bf16-rounded
// activations whose outputs are rounded to bf16 too (the plain bf16 reference).
RunOut run_case(const CudaCase& c, Device dev, DType act, bool round_act) {
  const size_t n = c.args.size();
  std::vector<std::vector<float>> host(n), init(n);
  std::vector<void*> device(n, nullptr);
  CaseEnv env;
  for (size_t i = 0; i < n; ++i) {
    const ArgSpec& a = c.args[i];
    const bool is_act = a.kind == Kind::act;
    init[i] = initial_values(c, i);
    if (is_act && (round_act || act == DType::bf16))
      for (float& x : init[i])
        if (!std::isnan(x)) x = bf16_round(x);
    host[i] = init[i];
    if (dev == Device::cpu) {
      env.t.emplace_back(host[i].data(), a.shape, DType::f32, Device::cpu);
      continue;
    }
    const DType dt = is_act ? act : DType::f32;
    const size_t count = host[i].size();
    device[i] = cuda::alloc(std::max<size_t>(count, 1) * dtype_size(dt));
    if (dt == DType::f32) {
      cuda::copy_to_device(device[i], host[i].data(), count * 4);
    } else {
      std::vector<bf16> b(count);
      for (size_t j = 0; j < count; ++j) b[j] = bf16::from_float(host[i][j]);
      cuda::copy_to_device(device[i], b.data(), count * 2);
    }
    env.t.emplace_back(device[i], a.shape, dt, Device::cuda);
  }
  void* ids_dev = nullptr;
  if (!c.ids.empty()) {
    if (dev == Device::cpu) {
      env.ids = c.ids.data();
    } else {
      ids_dev = cuda::alloc(c.ids.size() * sizeof(int32_t));
      cuda::copy_to_device(ids_dev, c.ids.data(), c.ids.size() * sizeof(int32_t));
      env.ids = static_cast<const int32_t*>(ids_dev);
    }
  }
  RunOut r;
  r.scalar = c.run(env);
  for (size_t i = 0; i < n; ++i) {
    const ArgSpec& a = c.args[i];
    std::vector<float> got = host[i];
    if (dev == Device::cuda) {
      const Tensor& t = env.t[i];
      if (t.dtype == DType::f32) {
        cuda::copy_to_host(got.data(), device[i], got.size() * 4);
      } else {
        std::vector<bf16> b(got.size());
        cuda::copy_to_host(b.data(), device[i], b.size() * 2);
        for (size_t j = 0; j < b.size(); ++j) got[j] = b[j].to_float();
      }
      cuda::free(device[i]);
    }
    if (a.role == Role::in) continue;
    if (round_act && a.kind == Kind::act)
      for (float& x : got) x = bf16_round(x);
    std::vector<double> d(got.size());
    for (size_t j = 0; j < got.size(); ++j) d[j] = a.role == Role::acc ? double(got[j]) - init[i][j] : got[j];
    r.outs.push_back(std::move(d));
    r.names.push_back(a.name);
    r.act.push_back(a.kind == Kind::act);
  }
  cuda::free(ids_dev);
  return r;
}



struct Param {
  size_t index;
  DType dt;
};

const std::vector<CudaCase>& cases() {
  static const std::vector<CudaCase> c = make_cuda_cases();
  return c;
}

class CudaOpTest : public ::testing::TestWithParam<Param> {};

TEST_P(CudaOpTest, MatchesCpu) {
  if (!cuda::built() || cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device: " << cuda_status();
  const CudaCase& c = cases()[GetParam().index];
  const DType dt = GetParam().dt;
  const RunOut ref = run_case(c, Device::cpu, DType::f32, false);
  const RunOut got = run_case(c, Device::cuda, dt, false);
  const RunOut plain = run_case(c, Device::cpu, DType::f32, true);
  const double floor = fp32_tol(c.reduction);
  const bool verbose = std::getenv("GOATLM_OPS_VERBOSE") != nullptr;
  for (size_t j = 0; j < ref.outs.size(); ++j) {
    const double e = nmse(got.outs[j], ref.outs[j]);
    const double tol = dt == DType::f32 ? floor : 9 * nmse(plain.outs[j], ref.outs[j]) + floor;
    if (verbose) std::printf("%s %s %s: nmse %.3g limit %.3g\n", c.name.c_str(), std::string(dtype_name(dt)).c_str(),
                             ref.names[j].c_str(), e, tol);
    EXPECT_LE(e, tol) << c.name << " output " << ref.names[j] << " (" << dtype_name(dt) << ")";
  }
  if (c.scalar) {
    const double err = std::fabs(got.scalar - ref.scalar);
    const double tol = (dt == DType::f32 ? 0.0 : 3 * std::fabs(plain.scalar - ref.scalar)) +
                       std::sqrt(floor) * std::fabs(ref.scalar) + 1e-30;
    EXPECT_LE(err, tol) << c.name << " scalar " << got.scalar << " vs " << ref.scalar;
  }
}

std::vector<Param> all_params() {
  std::vector<Param> p;
  for (size_t i = 0; i < cases().size(); ++i)
    for (DType dt : {DType::f32, DType::bf16}) p.push_back({i, dt});
  return p;
}

std::string param_name(const ::testing::TestParamInfo<Param>& info) {
  std::string s = cases()[info.param.index].name + "_" + std::string(dtype_name(info.param.dt));
  for (char& ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return s;
}

INSTANTIATE_TEST_SUITE_P(CudaOps, CudaOpTest, ::testing::ValuesIn(all_params()), param_name);

}  // namespace
}  // namespace goat::cuda_test
