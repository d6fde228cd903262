// Data-parallel gradient averaging, ZeRO-1 shard exchange and rank-0-only logging; see
// data_parallel.h.
#include "train/data_parallel.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>

#include "dist/bucketed_allreduce.h"
#include "ops/adamw.h"
#include "train/optimizer.h"

namespace goat {

namespace {

std::span<float> float_span(const Arena& a) {
  return {static_cast<float*>(a.data()), static_cast<size_t>(a.numel())};
}

}  // namespace

DataParallel::DataParallel(const Config& cfg)
    : DataParallel(cfg, make_communicator(DistOptions{parse_backend(cfg.dist.backend), cfg.dist.timeout_s,
                                                      cfg.dist.deterministic},
                                          cfg.device == "cuda" ? Device::cuda : Device::cpu)) {}

DataParallel::~DataParallel() = default;

DataParallel::DataParallel(const Config& cfg, std::unique_ptr<Communicator> comm) : comm_(std::move(comm)) {
  const auto& d = cfg.dist;
  zero_ = d.zero == 1;
  // One rank runs no collectives: no comm stream (and no CUDA call before the trainer has
  // checked that there is a device).
  stream_ = std::make_unique<CommStream>(world() > 1 ? comm_->device() : Device::cpu);
  comm_->set_stream(stream_->handle());
  padded_ = Arena(DType::f32, comm_->device());
  bucket_mb_ = d.bucket_mb;
  const int n = world();
  if (!is_root()) spdlog::set_level(spdlog::level::warn);
  GOAT_CHECK(cfg.train.batch_size % n == 0, "dist",
             "train.batch_size = {} is not divisible by the world size {}: the global micro-batch is split into "
             "equal slices, one per rank; use a multiple of {}",
             cfg.train.batch_size, n, n);
  if (const char* f = std::getenv("GOATLM_DIST_FAULT")) {
    GOAT_CHECK(std::sscanf(f, "%d:%ld", &fault_rank_, &fault_step_) == 2, "dist",
               "GOATLM_DIST_FAULT='{}': expected RANK:STEP", f);
  }
  if (n > 1)
    spdlog::info("dist: backend {}, {} ranks, zero {}, global batch {} = {} x {} rows", backend_name(comm_->backend()), n,
                 d.zero, cfg.train.batch_size, n, cfg.train.batch_size / n);
}

data::RowSlice DataParallel::rows(int64_t global_batch) const {
  return {global_batch, rank() * local_batch(global_batch)};
}

int64_t DataParallel::local_batch(int64_t global_batch) const { return global_batch / world(); }

int64_t DataParallel::owned_begin(int64_t numel) const {
  return zero_ ? zero_shard(numel, world(), rank()).begin : 0;
}

int64_t DataParallel::owned_end(int64_t numel) const { return zero_ ? zero_shard(numel, world(), rank()).end : numel; }

template <class F>
void DataParallel::collective(F&& f) {
  stream_->wait_for_compute();
  f();
  stream_->compute_waits();
  comm_->synchronize();
}

void DataParallel::broadcast_params(const Arena& params) {
  if (world() > 1) collective([&] { comm_->broadcast(float_span(params), 0); });
}

OverlappedAllReduce* DataParallel::overlapped(int64_t numel) {
  if (world() == 1 || zero_) return nullptr;
  if (!overlap_) overlap_ = std::make_unique<OverlappedAllReduce>(*comm_, *stream_, numel, bucket_mb_);
  return overlap_.get();
}

void DataParallel::backward(Gpt& model, Activations& acts, float loss_scale, GradAccumulator& accum, int64_t micro,
                            int64_t count) {
  const Arena& grads = model.grads();
  accum.before_backward(grads, micro);
  OverlappedAllReduce* overlap = micro + 1 == count ? overlapped(grads.numel()) : nullptr;
  if (overlap == nullptr) {
    model.backward(acts, loss_scale);
    accum.after_backward(grads, micro);
    if (micro + 1 == count) reduce_gradients(grads);
    return;
  }
  // The accumulated sum is added into each bucket just before its all-reduce starts.
  overlap->begin(float_span(grads), [&](int64_t b, int64_t e) { accum.after_backward(grads, micro, b, e); });
  model.backward(acts, loss_scale, [&](int64_t written_from) { overlap->ready(written_from); });
  overlap->finish();
}

float* DataParallel::padded(int64_t floats) {
  if (padded_.numel() < floats) {  // grown once: the f32 exchanges are the largest
    padded_ = Arena(DType::f32, comm_->device());
    padded_.add("padded", Shape{floats});
    padded_.allocate();
  }
  padded_.zero();
  return static_cast<float*>(padded_.data());
}

void DataParallel::reduce_gradients(const Arena& grads) {
  if (world() == 1) return;
  GOAT_CHECK(zero_, "dist", "plain data parallel reduces during the backward (overlapped)");
  // Reduce-scatter needs world · shard_numel elements: stage through the padded scratch.
  const ZeroShard s = zero_shard(grads.numel(), world(), rank());
  const Device d = comm_->device();
  float* all = padded(s.padded_numel);
  copy_bytes(all, d, grads.data(), grads.device(), static_cast<size_t>(grads.numel()) * 4);
  float* own = all + s.padded_begin();
  collective([&] {
    comm_->reduce_scatter({all, static_cast<size_t>(s.padded_numel)}, {own, static_cast<size_t>(s.shard_numel)},
                          ReduceOp::avg);
  });
  copy_bytes(static_cast<float*>(grads.data()) + s.begin, grads.device(), own, d, static_cast<size_t>(s.size()) * 4);
}

double DataParallel::grad_norm(const Arena& grads) {
  if (!zero_ || world() == 1) return AdamW::grad_norm(grads);
  const ZeroShard s = zero_shard(grads.numel(), world(), rank());
  double sq = s.size() > 0 ? ops::sum_squares(arena_range(grads, s.begin, s.size())) : 0.0;
  comm_->all_reduce_host(std::span(&sq, 1));
  return std::sqrt(sq);
}

void DataParallel::all_gather_owned(const void* own, int64_t numel, void* full, int64_t elem_bytes) {
  const ZeroShard s = zero_shard(numel, world(), rank());  // shard_numel is a multiple of 16
  const int64_t per_float = 4 / elem_bytes;              // elements per float moved
  const Device d = comm_->device();
  auto* all = reinterpret_cast<char*>(padded(s.padded_numel / per_float));
  copy_bytes(all + s.padded_begin() * elem_bytes, d, own, d, static_cast<size_t>(s.size() * elem_bytes));
  const auto chunk = static_cast<size_t>(s.shard_numel / per_float);
  auto* floats = reinterpret_cast<float*>(all);
  collective([&] {
    comm_->all_gather({floats + static_cast<size_t>(rank()) * chunk, chunk}, {floats, chunk * world()});
  });
  copy_bytes(full, d, all, d, static_cast<size_t>(numel * elem_bytes));
}

void DataParallel::gather_params(const Arena& params, const Arena* bf16_weights) {
  if (!zero_ || world() == 1) return;
  const int64_t n = params.numel(), begin = owned_begin(n);
  float* p = static_cast<float*>(params.data());
  all_gather_owned(p + begin, n, p);
  if (bf16_weights == nullptr) return;
  auto* w = static_cast<bf16*>(bf16_weights->data());  // refreshed for the own shard by AdamW
  all_gather_owned(w + begin, n, w, 2);
}

void DataParallel::gather_shards(const Arena& shard, const Arena& full) {
  const int64_t begin = owned_begin(full.numel()), end = owned_end(full.numel());
  GOAT_CHECK(shard.numel() == end - begin, "dist", "shard of {} elements for the owned range [{}, {})", shard.numel(),
             begin, end);
  if (!zero_ || world() == 1)
    copy_bytes(static_cast<float*>(full.data()) + begin, full.device(), shard.data(), shard.device(),
               static_cast<size_t>(end - begin) * 4);
  else
    all_gather_owned(shard.data(), full.numel(), full.data());
}

double DataParallel::mean(double local) {
  if (world() == 1) return local;
  comm_->all_reduce_host(std::span(&local, 1));
  return local / static_cast<double>(world());
}

void DataParallel::maybe_inject_fault(int64_t step) const {
  if (rank() != fault_rank_ || step != fault_step_) return;
  std::fprintf(stderr, "[dist] GOATLM_DIST_FAULT: rank %d exits in step %ld\n", rank(), static_cast<long>(step));
  std::fflush(stderr);
  _exit(3);
}

void DataParallel::run_or_abort(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    if (world() > 1) comm_->abort_job(e.what(), 1);
    throw;
  }
}

}  // namespace goat
