// Where a training run executes (config `device`, `dtype`): the model placement, the honest
// one-line description for the log ("cuda (CUDA emulated on the host ...), bf16"), the measured
// GEMM peak that MFU is reported against, and host copies of device arenas for writing files.
// device "cuda" without a CUDA backend or without a device is an error, never a CPU run.
#pragma once

#include <string>

#include "config/config.h"
#include "core/arena.h"
#include "model/gpt.h"

namespace goat {

// Throws "[train] device \"cuda\": no usable CUDA device (...status...)" when there is none.
Placement placement_of(const Config& cfg);
std::string describe_placement(const Config& cfg);

// Measured GEMM GFLOP/s of the placement (the MFU reference): the CPU sgemm (n = 1024); on a GPU
// cuda::gemm in the run's dtype (n = 4096, fp32 accumulate); 0 under emulation (no meaningful peak).
double measure_peak_gflops(const Placement& place);
std::string peak_name(const Config& cfg);

// `a` itself when it is on the host; else `scratch` filled with a host copy of it.
const Arena& on_host(const Arena& a, Arena& scratch);

}  // namespace goat
