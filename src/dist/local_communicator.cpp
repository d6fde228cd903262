// Local communicator: world size 1, always built. Every collective is the identity (a sum or
// average over one rank is the value itself); out-of-place reduce_scatter/all_gather copy. On
// Device::cuda only the in-place forms are accepted, since this file cannot touch device memory.
#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "dist/backends.h"

namespace goat {

namespace {

class LocalCommunicator final : public Communicator {
 public:
  explicit LocalCommunicator(Device device) : device_(device) {}

  int rank() const override { return 0; }
  int size() const override { return 1; }
  Device device() const override { return device_; }
  Backend backend() const override { return Backend::local; }

  void all_reduce(std::span<float>, ReduceOp) override {}

  void reduce_scatter(std::span<const float> send, std::span<float> recv, ReduceOp) override {
    GOAT_CHECK(send.size() == recv.size(), "reduce_scatter", "world size 1: send has {} elements, recv {}", send.size(),
               recv.size());
    copy("reduce_scatter", send, recv);
  }

  void all_gather(std::span<const float> send, std::span<float> recv) override {
    GOAT_CHECK(send.size() == recv.size(), "all_gather", "world size 1: send has {} elements, recv {}", send.size(),
               recv.size());
    copy("all_gather", send, recv);
  }

  void broadcast(std::span<float>, int root) override { check_root(root); }
  void broadcast_bytes(std::span<std::byte>, int root) override { check_root(root); }
  void all_reduce_host(std::span<double>) override {}
  void barrier() override {}

  [[noreturn]] void abort_job(const std::string& message, int code) override {
    std::fprintf(stderr, "[dist] rank 0/1: aborting: %s\n", message.c_str());
    std::fflush(stderr);
    std::exit(code);
  }

 private:
  void copy(const char* where, std::span<const float> send, std::span<float> recv) const {
    if (send.data() == recv.data()) return;
    GOAT_CHECK(device_ == Device::cpu, where, "local communicator on cuda supports only the in-place form");
    std::copy(send.begin(), send.end(), recv.begin());
  }
  static void check_root(int root) {
    GOAT_CHECK(root == 0, "broadcast", "root {} out of range for world size 1", root);
  }

  Device device_;
};

}  // namespace

std::unique_ptr<Communicator> detail::make_local_communicator(Device device) {
  return std::make_unique<LocalCommunicator>(device);
}

}  // namespace goat
