// The op-case runner (see op_harness.h for the checks and the tolerance rule), the case
// registry, and the one parameterised GoogleTest that runs every registered case.
#include "op_harness.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <set>

namespace goat::test {

namespace {

constexpr uint32_t kGuardBits = 0x7FA5A5A5u;  // signalling-NaN canary around every buffer
constexpr uint32_t kUnsetBits = 0x7FC0BEEFu;  // quiet NaN: "not written by the op"

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// n floats with kGuard canaries on each side.
class Guarded {
 public:
  explicit Guarded(int64_t n) : n_(n), store_(static_cast<size_t>(n + 2 * kGuard)) {
    for (int g = 0; g < kGuard; ++g) {
      set_bits(store_[g], kGuardBits);
      set_bits(store_[static_cast<size_t>(kGuard + n + g)], kGuardBits);
    }
  }
  float* data() { return store_.data() + kGuard; }
  const float* data() const { return store_.data() + kGuard; }
  int64_t size() const { return n_; }
  void fill_bits(uint32_t b) {
    for (int64_t i = 0; i < n_; ++i) set_bits(data()[i], b);
  }
  // False (and where = the first overwritten canary's element index, negative before the
  // buffer) if any canary changed.
  bool guards_intact(std::string* where) const {
    for (int g = 0; g < kGuard; ++g) {
      if (bits_of(store_[g]) != kGuardBits) return *where = "element " + std::to_string(g - kGuard), false;
      if (bits_of(store_[static_cast<size_t>(kGuard + n_ + g)]) != kGuardBits)
        return *where = "element " + std::to_string(n_ + g), false;
    }
    return true;
  }

 private:
  static void set_bits(float& f, uint32_t b) { std::memcpy(&f, &b, 4); }
  int64_t n_;
  std::vector<float> store_;
};

class CaseBuffers final : public OpBuffers {
 public:
  explicit CaseBuffers(const OpCase& c) : c_(c) {
    for (const auto& s : c.inputs) {
      in_.emplace_back(s.shape.numel());
      grad_.emplace_back(s.grad == Grad::none ? 0 : s.shape.numel());
      ids_.emplace_back();
    }
    for (const auto& s : c.outputs) {
      out_.emplace_back(s.shape.numel());
      dout_.emplace_back(s.shape.numel());
    }
  }
  Tensor in(size_t i) const override { return {const_cast<float*>(in_.at(i).data()), c_.inputs.at(i).shape}; }
  const int32_t* ids(size_t i) const override { return ids_.at(i).data(); }
  Tensor out(size_t i) const override { return {const_cast<float*>(out_.at(i).data()), c_.outputs.at(i).shape}; }
  Tensor d_out(size_t i) const override { return {const_cast<float*>(dout_.at(i).data()), c_.outputs.at(i).shape}; }
  Tensor grad(size_t i) const override {
    if (c_.inputs.at(i).grad == Grad::none) return {};
    return {const_cast<float*>(grad_.at(i).data()), c_.inputs.at(i).shape};
  }

  void check_guards(const char* phase) const {
    auto check = [&](const std::vector<Guarded>& bufs, const char* kind, auto name_of) {
      for (size_t i = 0; i < bufs.size(); ++i) {
        std::string where;
        EXPECT_TRUE(bufs[i].guards_intact(&where))
            << phase << ": canary overwritten at " << where << " of " << kind << " '" << name_of(i) << "'";
      }
    };
    auto in_name = [&](size_t i) { return c_.inputs[i].name; };
    auto out_name = [&](size_t i) { return c_.outputs[i].name; };
    check(in_, "input", in_name);
    check(grad_, "gradient of", in_name);
    check(out_, "output", out_name);
    check(dout_, "upstream gradient of", out_name);
  }

  const OpCase& c_;
  std::vector<Guarded> in_, grad_, out_, dout_;
  std::vector<std::vector<int32_t>> ids_;
};

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ull;
  return h;
}

// NMSE of got vs want, with a report on failure. `allowance` is an extra squared error the
// comparison tolerates on top of tol·Σ want² (the rounding of an accumulated fp32 result).
::testing::AssertionResult nmse_within(const std::string& what, const std::vector<double>& got,
                                       const std::vector<double>& want, double tol, double allowance = 0) {
  double err = 0, ref = 0;
  size_t worst = 0;
  double worst_d = -1;
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = got[i] - want[i];
    if (!std::isfinite(got[i])) {
      return ::testing::AssertionFailure()
             << what << ": element " << i << " is " << got[i] << " (not written, or not finite); want " << want[i];
    }
    err += d * d;
    ref += want[i] * want[i];
    if (std::abs(d) > worst_d) worst_d = std::abs(d), worst = i;
  }
  const double denom = std::max(ref, std::numeric_limits<double>::min());
  const double nmse = err / denom, limit = tol + allowance / denom;
  if (std::getenv("GOATLM_OPS_VERBOSE"))
    std::printf("  %-40s nmse %.3e  limit %.3e  (%.1e of limit)\n", what.c_str(), nmse, limit, nmse / limit);
  if (nmse <= limit) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": NMSE " << nmse << " > tolerance " << limit << "; worst element "
                                       << worst << ": got " << got[worst] << ", want " << want[worst];
}

std::vector<int64_t> sample_indices(int64_t n, uint64_t seed, uint64_t stream) {
  std::vector<int64_t> idx;
  if (n <= 2 * kMaxGradSamples) {
    for (int64_t i = 0; i < n; ++i) idx.push_back(i);
    return idx;
  }
  const Rng rng(seed, RngPurpose::test, stream);
  std::set<int64_t> s{0, n - 1};  // always include both ends (edge-of-buffer bugs)
  for (uint64_t k = 0; s.size() < static_cast<size_t>(kMaxGradSamples); ++k)
    s.insert(static_cast<int64_t>(rng.u64(k) % static_cast<uint64_t>(n)));
  return {s.begin(), s.end()};
}

}  // namespace

Gen gen_normal(float stdev, float mean) {
  return [=](const Rng& r, uint64_t i) { return mean + stdev * r.normal(i); };
}
Gen gen_uniform(float lo, float hi) {
  return [=](const Rng& r, uint64_t i) { return lo + (hi - lo) * r.uniform(i); };
}
Gen gen_ids(int32_t lo, int32_t hi) {
  return [=](const Rng& r, uint64_t i) {
    return static_cast<float>(lo + static_cast<int32_t>(r.u64(i) % static_cast<uint64_t>(hi - lo)));
  };
}
Gen gen_targets(int32_t v, int32_t ignore_id, int every) {
  return [=](const Rng& r, uint64_t i) {
    if (every > 0 && i % static_cast<uint64_t>(every) == static_cast<uint64_t>(every - 1))
      return static_cast<float>(ignore_id);
    return static_cast<float>(r.u64(i) % static_cast<uint64_t>(v));
  };
}

double nmse_tolerance(int64_t reduction) {
  const double u = std::ldexp(1.0, -24);
  return (kRmsMargin * u) * (kRmsMargin * u) * (static_cast<double>(std::max<int64_t>(reduction, 1)) + kPointwiseOps);
}

void run_op_case(const OpCase& c) {
  SCOPED_TRACE(c.name);
  const uint64_t seed = fnv1a(c.name);
  CaseBuffers b(c);
  const size_t ni = c.inputs.size(), no = c.outputs.size();

  // 1. Inputs from Philox, a pristine copy, their int32 view; outputs "unset".
  Vecs x(ni);
  for (size_t i = 0; i < ni; ++i) {
    const Rng rng(seed, RngPurpose::test, i);
    float* p = b.in_[i].data();
    for (int64_t k = 0; k < b.in_[i].size(); ++k) p[k] = c.inputs[i].gen(rng, static_cast<uint64_t>(k));
    x[i].assign(p, p + b.in_[i].size());
    b.ids_[i].resize(static_cast<size_t>(b.in_[i].size()));
    for (int64_t k = 0; k < b.in_[i].size(); ++k) b.ids_[i][static_cast<size_t>(k)] = static_cast<int32_t>(p[k]);
  }
  for (auto& o : b.out_) o.fill_bits(kUnsetBits);
  auto inputs_unchanged = [&](const char* phase) {
    for (size_t i = 0; i < ni; ++i)
      for (int64_t k = 0; k < b.in_[i].size(); ++k)
        if (static_cast<double>(b.in_[i].data()[k]) != x[i][static_cast<size_t>(k)]) {
          ADD_FAILURE() << phase << " modified input '" << c.inputs[i].name << "' at element " << k;
          break;
        }
  };

  // 2. Forward vs the fp64 reference.
  c.forward(b);
  b.check_guards("forward");
  inputs_unchanged("forward");
  Vecs ref(no);
  for (size_t j = 0; j < no; ++j) ref[j].assign(static_cast<size_t>(c.outputs[j].shape.numel()), 0.0);
  c.reference(x, ref);
  const double tol_f = nmse_tolerance(c.reduction);
  for (size_t j = 0; j < no; ++j) {
    std::vector<double> got(b.out_[j].data(), b.out_[j].data() + b.out_[j].size());
    EXPECT_TRUE(nmse_within("forward " + c.outputs[j].name, got, ref[j], tol_f));
  }
  if (!c.backward) return;

  // 3. Backward vs central finite differences of L = Σ dL/dy · reference(x), all in fp64.
  for (size_t j = 0; j < no; ++j) {
    const Rng rng(seed, RngPurpose::test, 100 + j);
    for (int64_t k = 0; k < b.dout_[j].size(); ++k)
      b.dout_[j].data()[k] = c.outputs[j].seeds_grad ? rng.normal(static_cast<uint64_t>(k)) : 0.f;
  }
  Vecs g0(ni);
  for (size_t i = 0; i < ni; ++i) {
    if (c.inputs[i].grad == Grad::accumulate) {
      const Rng rng(seed, RngPurpose::test, 200 + i);
      for (int64_t k = 0; k < b.grad_[i].size(); ++k) b.grad_[i].data()[k] = rng.normal(static_cast<uint64_t>(k));
      g0[i].assign(b.grad_[i].data(), b.grad_[i].data() + b.grad_[i].size());
    } else {
      b.grad_[i].fill_bits(kUnsetBits);
      g0[i].assign(static_cast<size_t>(b.grad_[i].size()), 0.0);
    }
  }
  c.backward(b);
  b.check_guards("backward");
  inputs_unchanged("backward");

  auto loss = [&](const Vecs& xs) {
    Vecs o(no);
    for (size_t j = 0; j < no; ++j) o[j].assign(ref[j].size(), 0.0);
    c.reference(xs, o);
    double l = 0;
    for (size_t j = 0; j < no; ++j)
      if (c.outputs[j].seeds_grad)
        for (size_t k = 0; k < o[j].size(); ++k) l += static_cast<double>(b.dout_[j].data()[k]) * o[j][k];
    return l;
  };
  const double tol_b = nmse_tolerance(c.reduction_bwd);
  const double h_rel = std::cbrt(std::numeric_limits<double>::epsilon());
  for (size_t i = 0; i < ni; ++i) {
    if (c.inputs[i].grad == Grad::none) continue;
    const float* g = b.grad_[i].data();
    bool all_finite = true;
    for (int64_t k = 0; k < b.grad_[i].size() && all_finite; ++k)
      if (!std::isfinite(g[k])) {
        ADD_FAILURE() << "gradient of '" << c.inputs[i].name << "' element " << k << " is " << g[k]
                      << (c.inputs[i].grad == Grad::overwrite ? " (not written)" : "");
        all_finite = false;
      }
    if (!all_finite) continue;
    std::vector<double> got, fd;
    double allowance = 0;  // Grad::accumulate: the stored g0 + grad is rounded to fp32 once
    const double ulp_margin = kRmsMargin * std::ldexp(1.0, -24);
    for (int64_t k : sample_indices(b.in_[i].size(), seed, 300 + i)) {
      double& xk = x[i][static_cast<size_t>(k)];
      const double x0 = xk, h = h_rel * std::max(1.0, std::abs(x0));
      xk = x0 + h;
      const double lp = loss(x), hp = xk - x0;
      xk = x0 - h;
      const double lm = loss(x), hm = x0 - xk;
      xk = x0;
      fd.push_back((lp - lm) / (hp + hm));
      got.push_back(static_cast<double>(g[k]) - g0[i][static_cast<size_t>(k)]);
      allowance += std::pow(ulp_margin * static_cast<double>(g[k]), 2);
    }
    if (c.inputs[i].grad != Grad::accumulate) allowance = 0;
    EXPECT_TRUE(nmse_within("gradient " + c.inputs[i].name, got, fd, tol_b, allowance));
  }
}

namespace {
std::vector<std::pair<std::string, CaseMaker>>& makers() {
  static std::vector<std::pair<std::string, CaseMaker>> m;
  return m;
}
}  // namespace

bool register_op_cases(const char* group, CaseMaker make) {
  makers().emplace_back(group, make);
  return true;
}

const std::vector<OpCase>& all_op_cases() {
  static const std::vector<OpCase> cases = [] {
    std::vector<OpCase> all;
    std::set<std::string> names;
    for (const auto& [group, make] : makers())
      for (OpCase& c : make()) {
        if (!names.insert(c.name).second) throw std::runtime_error("duplicate op case name " + c.name);
        all.push_back(std::move(c));
      }
    return all;
  }();
  return cases;
}

class OpCaseTest : public ::testing::TestWithParam<size_t> {};

TEST_P(OpCaseTest, Run) { run_op_case(all_op_cases().at(GetParam())); }

INSTANTIATE_TEST_SUITE_P(OpCases, OpCaseTest, ::testing::Range<size_t>(0, all_op_cases().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           std::string s = all_op_cases().at(info.param).name;
                           for (char& ch : s)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return s;
                         });

}  // namespace goat::test
