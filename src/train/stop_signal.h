// Graceful stop on SIGINT/SIGTERM (what schedulers send before pre-emption).
//
// install_stop_handlers(): the first signal only sets a flag that the training loop polls after
// each step (it then writes a checkpoint and exits 0); a second signal exits at once (status
// 128 + signal number) with a one-line message. The handlers do only async-signal-safe work.
//
// The handlers run on one idle thread, never on a thread that computes: install_stop_handlers()
// blocks SIGINT and SIGTERM in the calling thread (and so in every thread started after it:
// OpenMP, oneDNN, MPI, the collective watchdog) and starts the thread "goatlm-signals", the only
// one that accepts them. A signal frame written at an arbitrary thread's stack pointer is not
// safe here: oneDNN 2.6's JIT f32 GEMM kernels point rsp into a heap workspace while they run,
// so a frame delivered there overwrites the heap below it (oneDNN issue #4845, fixed in 3.11;
// found as glibc "corrupted size vs. prev_size" aborts, docs/checkpoints.md "Signals").
// Call it before any other thread exists (first thing in a command). Children spawned later
// inherit the blocked mask (goatlm train spawns none).
#pragma once

namespace goat {

void install_stop_handlers();
// The signal that asked for a stop, or 0.
int stop_requested();
// Sets the flag as a signal would (tests, and ranks told by another rank to stop).
void request_stop(int signal_number);

}  // namespace goat
