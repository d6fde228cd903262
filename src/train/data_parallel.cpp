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

DataParallel::DataParallel(const Config& cfg) {
  const auto& d = cfg.dist;
  comm_ = make_communicator(DistOptions{parse_backend(d.backend), d.timeout_s, d.deterministic},
                            cfg.device == "cuda" ? Device::cuda : Device::cpu);
  zero_ = d.zero == 1;
  bucket_mb_ = d.bucket_mb;
  const int n = world();
  if (!is_root()) spdlog::set_level(spdlog::level::warn);
  GOAT_CHECK(cfg.train.batch_size % n == 0, "dist",
             "train.batch_size = {} is not divisible by the world size {}: the global micro-batch is split into "
             "equal slices, one per rank; use a multiple of {}",
             cfg.train.batch_size, n, n);
  GOAT_CHECK(!(zero_ && comm_->device() != Device::cpu), "dist",
             "dist.zero = 1 is implemented for device cpu only (its shard exchange stages through host memory)");
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

void DataParallel::broadcast_params(const Arena& params) {
  if (world() > 1) comm_->broadcast(float_span(params), 0);
}

void DataParallel::reduce_gradients(const Arena& grads) {
  if (world() == 1) return;
  if (!zero_) {
    bucketed_all_reduce(*comm_, float_span(grads), bucket_mb_, ReduceOp::avg);
    return;
  }
  // Reduce-scatter needs world · shard_numel elements: stage through the padded scratch.
  const ZeroShard s = zero_shard(grads.numel(), world(), rank());
  padded_.assign(static_cast<size_t>(s.padded_numel), 0.f);
  const auto g = float_span(grads);
  std::copy(g.begin(), g.end(), padded_.begin());
  const std::span<float> all(padded_);
  const auto own = all.subspan(static_cast<size_t>(s.padded_begin()), static_cast<size_t>(s.shard_numel));
  comm_->reduce_scatter(all, own, ReduceOp::avg);
  std::copy_n(own.begin(), s.size(), g.begin() + s.begin);
}

double DataParallel::grad_norm(const Arena& grads) {
  if (!zero_ || world() == 1) return AdamW::grad_norm(grads);
  const ZeroShard s = zero_shard(grads.numel(), world(), rank());
  double sq = ops::sum_squares(arena_range(grads, s.begin, s.size()));
  comm_->all_reduce_host(std::span(&sq, 1));
  return std::sqrt(sq);
}

void DataParallel::all_gather_owned(const float* own, int64_t numel, float* full) {
  const ZeroShard s = zero_shard(numel, world(), rank());
  padded_.assign(static_cast<size_t>(s.padded_numel), 0.f);
  std::copy_n(own, s.size(), padded_.begin() + s.padded_begin());
  const std::span<float> all(padded_);
  comm_->all_gather(all.subspan(static_cast<size_t>(s.padded_begin()), static_cast<size_t>(s.shard_numel)), all);
  std::copy_n(padded_.begin(), numel, full);
}

void DataParallel::gather_params(const Arena& params) {
  if (!zero_ || world() == 1) return;
  float* p = static_cast<float*>(params.data());
  all_gather_owned(p + owned_begin(params.numel()), params.numel(), p);
}

void DataParallel::gather_shards(const Arena& shard, const Arena& full) {
  const int64_t begin = owned_begin(full.numel()), end = owned_end(full.numel());
  GOAT_CHECK(shard.numel() == end - begin, "dist", "shard of {} elements for the owned range [{}, {})", shard.numel(),
             begin, end);
  const float* own = static_cast<const float*>(shard.data());
  if (!zero_ || world() == 1)
    std::copy_n(own, end - begin, static_cast<float*>(full.data()) + begin);
  else
    all_gather_owned(own, full.numel(), static_cast<float*>(full.data()));
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
