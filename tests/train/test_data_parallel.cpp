// Data-parallel building blocks that need no MPI: a rank's loader slice is exactly its rows of the
// global batch, a sharded AdamW (ZeRO-1) over any partition equals the whole-arena update
// bitwise, and fixed-association accumulation computes ((g0 + g1) + g2). The real multi-process
// runs are tests/mpi/test_mpi_train.cpp.
#include <gtest/gtest.h>

#include <cstdlib>
#include <vector>

#include "core/philox.h"
#include "data/loader.h"
#include "dist/zero_shard.h"
#include "train/grad_accumulator.h"
#include "train/optimizer.h"
#include "train/trainer.h"

using namespace goat;

namespace {

Config tiny(const std::vector<std::string>& sets) {
  const char* src = std::getenv("GOATLM_SOURCE_DIR");
  return load_config(std::string(src ? src : ".") + "/configs/tiny.json", sets);
}

std::vector<float> copy_of(const Arena& a) {
  const float* p = static_cast<const float*>(a.data());
  return {p, p + a.numel()};
}

void fill_normal(const Arena& a, uint64_t seed, float scale) {
  const Rng rng(seed, RngPurpose::init);
  float* p = static_cast<float*>(a.data());
  for (int64_t i = 0; i < a.numel(); ++i) p[i] = scale * rng.normal(static_cast<uint64_t>(i));
}

TEST(DataParallel, RankSliceIsItsRowsOfTheGlobalBatch) {
  std::vector<uint16_t> toks(5000);
  for (size_t i = 0; i < toks.size(); ++i) toks[i] = static_cast<uint16_t>((i * 7919) % 251);
  auto src = std::make_shared<data::MemorySource>(toks, "test");
  const int64_t B = 6, T = 16;
  const data::Loader whole(src, B, T, 42, RngPurpose::data);
  std::vector<int32_t> in(B * T), tg(B * T);
  for (int world : {1, 2, 3, 6}) {
    for (int r = 0; r < world; ++r) {
      const int64_t b = B / world;
      const data::Loader part(src, b, T, 42, RngPurpose::data, {B, r * b});
      std::vector<int32_t> pin(b * T), ptg(b * T);
      for (int64_t step : {0, 5}) {
        for (int64_t micro : {0, 2}) {
          whole.batch(step, micro, in.data(), tg.data());
          part.batch(step, micro, pin.data(), ptg.data());
          for (int64_t i = 0; i < b * T; ++i) {
            ASSERT_EQ(pin[i], in[r * b * T + i]) << "world " << world << " rank " << r << " step " << step;
            ASSERT_EQ(ptg[i], tg[r * b * T + i]);
          }
        }
      }
    }
  }
  EXPECT_THROW(data::Loader(src, 4, T, 42, RngPurpose::data, {B, 3}), Error);  // rows [3, 7) of 6
}

TEST(DataParallel, ShardedAdamWEqualsTheWholeUpdateBitwise) {
  const Config c = tiny({});
  Gpt g(c.model, c.train.seq_len);
  g.init(3);
  fill_normal(g.grads(), 11, 0.05f);
  const auto p0 = copy_of(g.params());
  AdamW whole(g.params(), g.decay_mask(), c.train);
  for (int64_t s = 0; s < 3; ++s) whole.step(g.params(), g.grads(), s, 1e-3, 2.0);
  const auto want = copy_of(g.params());
  for (int world : {2, 3, 7}) {
    std::copy(p0.begin(), p0.end(), static_cast<float*>(g.params().data()));
    std::vector<std::unique_ptr<AdamW>> shards;
    for (int r = 0; r < world; ++r) {
      const ZeroShard z = zero_shard(g.params().numel(), world, r);
      shards.push_back(std::make_unique<AdamW>(g.params(), g.decay_mask(), c.train, z.begin, z.end));
      EXPECT_EQ(shards.back()->m().numel(), z.size());  // moments only for the shard
    }
    for (int64_t s = 0; s < 3; ++s)
      for (auto& o : shards) o->step(g.params(), g.grads(), s, 1e-3, 2.0);
    EXPECT_EQ(copy_of(g.params()), want) << world << " shards";
    // The shards' moments laid side by side are the whole optimizer's, and load_moments re-cuts
    // full moments into any shard (a checkpoint resumed on another world size).
    const Arena m_full = g.params().clone_layout(), v_full = g.params().clone_layout();
    for (const auto& o : shards) {
      std::copy_n(static_cast<const float*>(o->m().data()), o->end() - o->begin(), static_cast<float*>(m_full.data()) + o->begin());
      std::copy_n(static_cast<const float*>(o->v().data()), o->end() - o->begin(), static_cast<float*>(v_full.data()) + o->begin());
    }
    EXPECT_EQ(copy_of(m_full), copy_of(whole.m())) << world << " shards";
    EXPECT_EQ(copy_of(v_full), copy_of(whole.v())) << world << " shards";
    const ZeroShard z = zero_shard(g.params().numel(), world, 1);
    AdamW resumed(g.params(), g.decay_mask(), c.train, z.begin, z.end);
    resumed.load_moments(whole.m(), whole.v());
    EXPECT_EQ(copy_of(resumed.m()), copy_of(shards[1]->m()));
    EXPECT_EQ(copy_of(resumed.v()), copy_of(shards[1]->v()));
  }
}

TEST(DataParallel, AccumulationSumsFreshMicroBatchGradients) {
  Arena grads;
  grads.add("w", Shape{5});
  grads.allocate();
  float* g = static_cast<float*>(grads.data());
  GradAccumulator acc;
  const std::vector<std::vector<float>> micro = {{1, 2, 3, 4, 5}, {0.5f, 1e8f, -3, 1, 0}, {1, -1e8f, 0, 0, 1e-8f}};
  for (size_t k = 0; k < micro.size(); ++k) {
    acc.before_backward(grads, static_cast<int64_t>(k));
    for (int i = 0; i < 5; ++i) g[i] += micro[k][static_cast<size_t>(i)];  // a backward: += into zeros
    acc.after_backward(grads, static_cast<int64_t>(k));
  }
  for (int i = 0; i < 5; ++i) {
    const auto u = static_cast<size_t>(i);
    EXPECT_EQ(g[i], (micro[0][u] + micro[1][u]) + micro[2][u]) << i;
  }
}

}  // namespace
