// A model's outputs on one batch, as a file another implementation can be compared against
// (scripts/torch_model.py --check): `goatlm eval --dump-logits FILE`.
//
//   FILE (safetensors, all F32): inputs (B, T) and targets (B, T) token ids (exact: ids < 2^24),
//   logits (B, T, V), losses (B, T) nats; __metadata__ {"format": "goatlm-logits", "loss": mean}.
#pragma once

#include <string>

#include "model/gpt.h"

namespace goat::eval {

// Runs acts.inputs / acts.targets through the model and writes the file. Returns the mean loss.
double dump_logits(Gpt& model, Activations& acts, const std::string& path);

}  // namespace goat::eval
