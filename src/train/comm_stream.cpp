// The comm stream and its events; see comm_stream.h.
#include "train/comm_stream.h"

#include <exception>

#include "backend/cuda/cuda_ops.h"

namespace goat {

CommStream::CommStream(Device device) : device_(device) {
  if (device_ != Device::cuda) return;
  stream_ = cuda::stream_create();
  compute_mark_ = cuda::event_create();
  comm_mark_ = cuda::event_create();
}

CommStream::~CommStream() {
  if (device_ != Device::cuda) return;
  try {
    cuda::event_destroy(comm_mark_);
    cuda::event_destroy(compute_mark_);
    cuda::stream_destroy(stream_);
  } catch (const std::exception&) {  // a failed context at exit: nothing left to release
  }
}

void CommStream::wait_for_compute() {
  if (device_ != Device::cuda) return;
  cuda::event_record(compute_mark_, cuda::compute_stream());
  cuda::stream_wait_event(stream_, compute_mark_);
}

void CommStream::compute_waits() {
  if (device_ != Device::cuda) return;
  cuda::event_record(comm_mark_, stream_);
  cuda::stream_wait_event(cuda::compute_stream(), comm_mark_);
}

}  // namespace goat
