// CommStream: the second CUDA stream that data-parallel collectives run on, and the two orderings
// between it and the compute stream (backend/cuda/cuda_ops.h's compute_stream(), where every op
// runs). A collective reading data the compute stream wrote is preceded by wait_for_compute()
// (an event recorded on the compute stream, waited for by the comm stream); work on the compute
// stream reading a collective's result is preceded by compute_waits() (the reverse). Neither
// blocks the host. On the CPU every call is a no-op: the MPI collectives there are blocking. In
// the host SIMT emulation streams and events are validated handles and every call completes
// before it returns (docs/emulation.md), so program order is the execution order there.
#pragma once

#include "core/tensor.h"

namespace goat {

class CommStream {
 public:
  explicit CommStream(Device device);
  ~CommStream();
  CommStream(const CommStream&) = delete;
  CommStream& operator=(const CommStream&) = delete;

  // The cudaStream_t for Communicator::set_stream (nullptr on the CPU).
  void* handle() const { return stream_; }
  Device device() const { return device_; }
  // Work enqueued on the comm stream from now on starts after all work enqueued on the compute
  // stream so far.
  void wait_for_compute();
  // Work enqueued on the compute stream from now on starts after all work enqueued on the comm
  // stream so far.
  void compute_waits();

 private:
  Device device_;
  void* stream_ = nullptr;
  void* compute_mark_ = nullptr;  // event on the compute stream
  void* comm_mark_ = nullptr;     // event on the comm stream
};

}  // namespace goat
