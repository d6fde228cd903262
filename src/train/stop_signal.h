// Graceful stop on SIGINT/SIGTERM (what schedulers send before pre-emption).
//
// install_stop_handlers(): the first signal only sets a flag that the training loop polls after
// each step (it then writes a checkpoint and exits 0); a second signal exits at once (status
// 128 + signal number) with a one-line message. The handlers do only async-signal-safe work.
#pragma once

namespace goat {

void install_stop_handlers();
// The signal that asked for a stop, or 0.
int stop_requested();
// Sets the flag as a signal would (tests, and ranks told by another rank to stop).
void request_stop(int signal_number);

}  // namespace goat
