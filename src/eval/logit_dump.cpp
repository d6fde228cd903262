// dump_logits: one forward with targets (the logits stay in the activations), copied into an
// arena of the documented names and written with the safetensors writer.
#include "eval/logit_dump.h"

#include <fmt/format.h>

#include <cstring>

#include "data/safetensors.h"

namespace goat::eval {

double dump_logits(Gpt& model, Activations& acts, const std::string& path) {
  const int64_t B = acts.batch(), T = acts.seq_len(), V = model.config().vocab_size;
  const double loss = model.forward(acts, true);
  Arena out;
  out.add("inputs", Shape{B, T});
  out.add("targets", Shape{B, T});
  out.add("logits", Shape{B, T, V});
  out.add("losses", Shape{B, T});
  out.allocate();
  float* in = out.view("inputs").f32();
  float* tg = out.view("targets").f32();
  for (int64_t i = 0; i < B * T; ++i) {
    in[i] = static_cast<float>(acts.inputs[static_cast<size_t>(i)]);
    tg[i] = static_cast<float>(acts.targets[static_cast<size_t>(i)]);
  }
  const Tensor logits = acts.get("logits"), losses = acts.get("losses");
  std::memcpy(out.view("logits").data, logits.data, logits.nbytes());
  std::memcpy(out.view("losses").data, losses.data, losses.nbytes());
  data::save_safetensors(path, out, {{"format", "goatlm-logits"}, {"loss", fmt::format("{:.17g}", loss)}});
  return loss;
}

}  // namespace goat::eval
