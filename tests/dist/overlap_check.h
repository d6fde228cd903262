// The overlapped gradient all-reduce of DataParallel::backward (train/overlapped_allreduce.h),
// checked on a device (test_dist: cpu; test_cuda: cuda, the emulated device in the EMU build).
//
// A recording communicator of world size 2 stands in for the ranks: its all-reduce (avg) is the
// identity, i.e. the mean of two ranks with equal gradients, and it records every call. The
// model (configs/tiny.json, GOAT positions so that the prior's parameters sit inside the layers,
// a small bucket size so the arena spans many buckets, some across layer boundaries) trains two
// steps of grad_accum micro-batches through DataParallel::backward; a reference model with the
// same init runs the plain backward with the same gradient accumulator. Checked per step:
//   - each bucket of the plan is all-reduced exactly once, in plan (backward) order, all during
//     the last micro-batch, each right after the comm stream waited for the compute stream, and
//     the compute stream waits for the comm stream once, after the last bucket;
//   - each bucket is launched at the first backward progress report that completes it (the
//     reports are ln_f's offset, each layer's first offset from the last layer down, then 0);
//   - what the collective reads (the bucket's data when it is launched) equals the reference's
//     final gradient of that bucket bit for bit: no bucket starts before the backward, or the
//     gradient accumulator, has finished it;
//   - the communicator saw exactly those spans, and the gradients after the step equal the
//     reference's bit for bit.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "config/config.h"
#include "data/loader.h"
#include "dist/communicator.h"
#include "train/data_parallel.h"
#include "train/grad_accumulator.h"

namespace goat::test {

class RecordingComm final : public Communicator {
 public:
  explicit RecordingComm(Device d) : device_(d) {}
  int rank() const override { return 0; }
  int size() const override { return 2; }
  Device device() const override { return device_; }
  Backend backend() const override { return Backend::local; }
  void all_reduce(std::span<float> data, ReduceOp op) override {
    EXPECT_EQ(op, ReduceOp::avg);
    calls.push_back(data);
  }
  void reduce_scatter(std::span<const float>, std::span<float>, ReduceOp) override { ADD_FAILURE() << "reduce_scatter"; }
  void all_gather(std::span<const float>, std::span<float>) override { ADD_FAILURE() << "all_gather"; }
  void broadcast(std::span<float>, int) override {}
  void broadcast_bytes(std::span<std::byte>, int) override {}
  void all_reduce_host(std::span<double> d) override {
    for (double& x : d) x *= 2;
  }
  void barrier() override {}
  [[noreturn]] void abort_job(const std::string& m, int) override { throw std::runtime_error(m); }
  std::vector<std::span<float>> calls;

 private:
  Device device_;
};

inline std::vector<float> host_floats(const float* p, int64_t n, Device d) {
  std::vector<float> h(static_cast<size_t>(n));
  copy_bytes(h.data(), Device::cpu, p, d, h.size() * sizeof(float));
  return h;
}

inline void check_overlapped_allreduce(Device device, int64_t grad_accum) {
  const char* src = std::getenv("GOATLM_SOURCE_DIR");
  const Config cfg = load_config(std::string(src ? src : ".") + "/configs/tiny.json",
                                 {"model.position.type=goat", std::string("device=") + (device == Device::cuda ? "cuda" : "cpu"),
                                  "train.batch_size=2", "train.seq_len=8", "train.grad_accum=" + std::to_string(grad_accum),
                                  "dist.bucket_mb=0.01", "data.synthetic.train_tokens=16384",
                                  "data.synthetic.val_tokens=4096"});
  const auto& t = cfg.train;
  const Placement place{device, DType::f32};
  Gpt model(cfg.model, t.seq_len, place), ref(cfg.model, t.seq_len, place);
  model.init(static_cast<uint64_t>(t.seed));
  ref.init(static_cast<uint64_t>(t.seed));
  Activations acts(cfg.model, t.batch_size, t.seq_len, place), ref_acts(cfg.model, t.batch_size, t.seq_len, place);
  data::Loader loader(data::make_source(cfg, false), t.batch_size, t.seq_len, static_cast<uint64_t>(t.seed),
                      RngPurpose::data);
  auto comm_owner = std::make_unique<RecordingComm>(device);
  RecordingComm& comm = *comm_owner;
  DataParallel dp(cfg, std::move(comm_owner));
  GradAccumulator accum, ref_accum;
  const Arena& grads = model.grads();
  const int64_t numel = grads.numel();
  OverlappedAllReduce* overlap = dp.overlapped(numel);
  ASSERT_NE(overlap, nullptr);
  const BucketPlan& plan = overlap->plan();
  ASSERT_GE(plan.count(), 8) << "the test wants many buckets";

  // The backward's progress reports, in order: ln_f, layers L-1 .. 0, then 0.
  std::vector<int64_t> reports;
  const auto offset = [&](const std::string& n) { return grads.entries()[grads.index_of(n)].offset; };
  reports.push_back(offset("ln_f.weight"));
  for (int l = cfg.model.n_layer - 1; l >= 0; --l) reports.push_back(offset("h." + std::to_string(l) + ".ln_1.weight"));
  reports.push_back(0);
  std::set<int64_t> layer_starts(reports.begin(), reports.end());
  int straddling = 0;
  for (const Bucket& b : plan.buckets())
    for (int64_t s : layer_starts) straddling += s > b.begin && s < b.end;
  EXPECT_GT(straddling, 0) << "no bucket crosses a layer boundary";
  std::printf("[overlap] %ld gradients in %d buckets, %d crossing a layer boundary\n", static_cast<long>(numel),
              plan.count(), straddling);

  struct Seen {
    OverlappedAllReduce::Event event;
    int bucket;
    int64_t written_from, micro;
    std::vector<float> data;
  };
  std::vector<Seen> seen;
  int64_t micro = 0;
  overlap->set_trace([&](const OverlappedAllReduce::Trace& tr) {
    seen.push_back({tr.event, tr.bucket, tr.written_from, micro,
                    host_floats(tr.data.data(), static_cast<int64_t>(tr.data.size()), device)});
  });
  const float scale = 1.f / static_cast<float>(t.batch_size * t.seq_len * grad_accum);
  for (int64_t step = 0; step < 2; ++step) {
    seen.clear();
    comm.calls.clear();
    for (micro = 0; micro < grad_accum; ++micro) {
      loader.batch(step, micro, acts.inputs.data(), acts.targets.data());
      ref_acts.inputs = acts.inputs, ref_acts.targets = acts.targets;
      model.forward(acts, true);
      ref.forward(ref_acts, true);
      dp.backward(model, acts, scale, accum, micro, grad_accum);
      ref_accum.before_backward(ref.grads(), micro);
      ref.backward(ref_acts, scale);
      ref_accum.after_backward(ref.grads(), micro);
    }
    const std::vector<float> want = host_floats(static_cast<const float*>(ref.grads().data()), numel, device);
    const std::string at = "step " + std::to_string(step) + ", grad_accum " + std::to_string(grad_accum);
    ASSERT_EQ(seen.size(), static_cast<size_t>(2 * plan.count() + 1)) << at;
    ASSERT_EQ(comm.calls.size(), static_cast<size_t>(plan.count())) << at;
    const float* base = static_cast<const float*>(grads.data());
    for (int k = 0; k < plan.count(); ++k) {
      const Bucket& b = plan[k];
      const Seen& wait = seen[static_cast<size_t>(2 * k)];
      const Seen& ar = seen[static_cast<size_t>(2 * k + 1)];
      EXPECT_EQ(wait.event, OverlappedAllReduce::Event::comm_waits_compute) << at << ", bucket " << k;
      EXPECT_EQ(wait.bucket, k) << at;
      EXPECT_EQ(ar.event, OverlappedAllReduce::Event::all_reduce) << at << ", bucket " << k;
      EXPECT_EQ(ar.bucket, k) << at;
      EXPECT_EQ(ar.micro, grad_accum - 1) << at << ": bucket " << k << " launched before the last micro-batch";
      int64_t first_complete = -1;  // the first report after which every element >= b.begin is final
      for (int64_t r : reports)
        if (r <= b.begin) {
          first_complete = r;
          break;
        }
      EXPECT_EQ(ar.written_from, first_complete) << at << ": bucket " << k << " [" << b.begin << ", " << b.end << ")";
      ASSERT_EQ(ar.data.size(), static_cast<size_t>(b.end - b.begin)) << at;
      int64_t diff = 0;
      for (int64_t i = b.begin; i < b.end; ++i) diff += ar.data[static_cast<size_t>(i - b.begin)] != want[static_cast<size_t>(i)];
      EXPECT_EQ(diff, 0) << at << ": bucket " << k << " [" << b.begin << ", " << b.end
                         << ") was read before its gradient was final";
      EXPECT_EQ(comm.calls[static_cast<size_t>(k)].data(), base + b.begin) << at;
      EXPECT_EQ(comm.calls[static_cast<size_t>(k)].size(), static_cast<size_t>(b.end - b.begin)) << at;
    }
    EXPECT_EQ(seen.back().event, OverlappedAllReduce::Event::compute_waits_comm) << at;
    const std::vector<float> got = host_floats(base, numel, device);
    EXPECT_EQ(got, want) << at << ": gradients after the step";
  }
}

}  // namespace goat::test
