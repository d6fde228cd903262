// NCCL communicator over GPU memory. Bootstrap: an MpiCommunicator over the same ranks picks
// the local GPU (rank within the node, from MPI_Comm_split_type), rank 0 makes the ncclUniqueId
// and broadcasts it over MPI, then every rank joins with ncclCommInitRank. Float collectives are
// enqueued on stream_ (set_stream; default the legacy stream, which orders with the model's
// kernels) and complete at synchronize(); byte/f64 host collectives and the barrier go over MPI.
// synchronize() polls the stream and ncclCommGetAsyncError under the MPI watchdog, so a dead
// peer ends the job after dist.timeout_s with a message instead of a hang.
#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <thread>

#include "dist/backends.h"
#include "dist/comm_buffer.h"
#include "dist/mpi/mpi_communicator.h"

namespace goat {

namespace {

void cuda_check(cudaError_t e, const char* op) {
  GOAT_CHECK(e == cudaSuccess, "dist.nccl", "{} failed: {}", op, cudaGetErrorString(e));
}

class NcclCommunicator final : public Communicator {
 public:
  explicit NcclCommunicator(const DistOptions& opts) : host_(std::make_unique<MpiCommunicator>(opts)) {
    int devices = 0;
    cuda_check(cudaGetDeviceCount(&devices), "cudaGetDeviceCount");
    GOAT_CHECK(devices > 0, "dist.nccl", "rank {}/{}: no CUDA device visible", host_->rank(), host_->size());
    MPI_Comm node = MPI_COMM_NULL;
    MPI_Comm_split_type(host_->comm(), MPI_COMM_TYPE_SHARED, host_->rank(), MPI_INFO_NULL, &node);
    int local_rank = 0;
    MPI_Comm_rank(node, &local_rank);
    MPI_Comm_free(&node);
    device_index_ = local_rank % devices;
    cuda_check(cudaSetDevice(device_index_), "cudaSetDevice");

    ncclUniqueId id{};
    if (host_->rank() == 0) nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    host_->broadcast_bytes(std::as_writable_bytes(std::span(&id, 1)), 0);
    auto scope = host_->watchdog().guard("ncclCommInitRank", host_->size());
    nccl_check(ncclCommInitRank(&comm_, host_->size(), id, host_->rank()), "ncclCommInitRank");
  }

  ~NcclCommunicator() override {
    if (comm_ != nullptr) ncclCommDestroy(comm_);
  }

  int rank() const override { return host_->rank(); }
  int size() const override { return host_->size(); }
  Device device() const override { return Device::cuda; }
  Backend backend() const override { return Backend::nccl; }

  void all_reduce(std::span<float> data, ReduceOp op) override {
    if (data.empty()) return;
    nccl_check(ncclAllReduce(data.data(), data.data(), data.size(), ncclFloat32, nccl_op(op), comm_, stream_),
               "ncclAllReduce");
    pending_ = "all_reduce";
  }

  void reduce_scatter(std::span<const float> send, std::span<float> recv, ReduceOp op) override {
    GOAT_CHECK(send.size() == recv.size() * static_cast<size_t>(size()), "reduce_scatter",
               "rank {}/{}: send has {} elements, expected world size x recv = {} x {}", rank(), size(), send.size(),
               size(), recv.size());
    if (recv.empty()) return;
    nccl_check(ncclReduceScatter(send.data(), recv.data(), recv.size(), ncclFloat32, nccl_op(op), comm_, stream_),
               "ncclReduceScatter");
    pending_ = "reduce_scatter";
  }

  void all_gather(std::span<const float> send, std::span<float> recv) override {
    GOAT_CHECK(recv.size() == send.size() * static_cast<size_t>(size()), "all_gather",
               "rank {}/{}: recv has {} elements, expected world size x send = {} x {}", rank(), size(), recv.size(),
               size(), send.size());
    if (send.empty()) return;
    nccl_check(ncclAllGather(send.data(), recv.data(), send.size(), ncclFloat32, comm_, stream_), "ncclAllGather");
    pending_ = "all_gather";
  }

  void broadcast(std::span<float> data, int root) override {
    GOAT_CHECK(root >= 0 && root < size(), "broadcast", "root {} out of range for world size {}", root, size());
    if (data.empty()) return;
    nccl_check(ncclBroadcast(data.data(), data.data(), data.size(), ncclFloat32, root, comm_, stream_),
               "ncclBroadcast");
    pending_ = "broadcast";
  }

  void broadcast_bytes(std::span<std::byte> data, int root) override { host_->broadcast_bytes(data, root); }
  void all_reduce_host(std::span<double> data) override { host_->all_reduce_host(data); }

  void barrier() override {
    synchronize();
    host_->barrier();
  }

  void synchronize() override {
    auto scope = host_->watchdog().guard(pending_ ? pending_ : "synchronize", 0);
    for (;;) {
      const cudaError_t q = cudaStreamQuery(stream_);
      if (q == cudaSuccess) break;
      GOAT_CHECK(q == cudaErrorNotReady, "dist.nccl", "rank {}/{}: {} failed on the device: {}", rank(), size(),
                 pending_ ? pending_ : "stream", cudaGetErrorString(q));
      ncclResult_t async = ncclSuccess;
      ncclCommGetAsyncError(comm_, &async);
      if (async != ncclSuccess && async != ncclInProgress) {
        ncclCommAbort(comm_);
        comm_ = nullptr;
        fail("dist.nccl", "rank {}/{}: {} failed: {}", rank(), size(), pending_ ? pending_ : "collective",
             ncclGetErrorString(async));
      }
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
    pending_ = nullptr;
  }

  void set_stream(void* stream) override { stream_ = static_cast<cudaStream_t>(stream); }

  [[noreturn]] void abort_job(const std::string& message, int code) override {
    if (comm_ != nullptr) ncclCommAbort(comm_);
    comm_ = nullptr;
    host_->abort_job(message, code);
  }

 private:
  void nccl_check(ncclResult_t r, const char* op) const {
    GOAT_CHECK(r == ncclSuccess, "dist.nccl", "rank {}/{}: {} failed: {} ({})", host_->rank(), host_->size(), op,
               ncclGetErrorString(r), ncclGetLastError(comm_));
  }
  static ncclRedOp_t nccl_op(ReduceOp op) { return op == ReduceOp::avg ? ncclAvg : ncclSum; }

  std::unique_ptr<MpiCommunicator> host_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  int device_index_ = 0;
  const char* pending_ = nullptr;
};

}  // namespace

bool nccl_built() { return true; }

int dist_cuda_device_count() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

std::unique_ptr<Communicator> detail::make_nccl_communicator(const DistOptions& opts) {
  return std::make_unique<NcclCommunicator>(opts);
}

float* detail::cuda_alloc_floats(int64_t n) {
  void* p = nullptr;
  cuda_check(cudaMalloc(&p, static_cast<size_t>(std::max<int64_t>(n, 1)) * 4), "cudaMalloc");
  cuda_check(cudaMemset(p, 0, static_cast<size_t>(std::max<int64_t>(n, 1)) * 4), "cudaMemset");
  return static_cast<float*>(p);
}
void detail::cuda_free(float* p) { cudaFree(p); }
void detail::cuda_copy(void* dst, const void* src, int64_t bytes) {
  cuda_check(cudaMemcpy(dst, src, static_cast<size_t>(bytes), cudaMemcpyDefault), "cudaMemcpy");
}

}  // namespace goat
