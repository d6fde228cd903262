// export_tensors / export_model: the model's own arena names are already the export names
// (gpt.h, position_goat.h); this adds the reference module's extra GOAT tensors per layer, right
// after the layer's attention parameters.
#include "train/export.h"

#include <cstring>
#include <filesystem>
#include <vector>

#include "data/safetensors.h"
#include "model/position_goat.h"
#include "train/trainer.h"

namespace goat {

Config resolved_export_config(const Config& cfg) {
  Config c = cfg;
  c.model.n_kv_head = cfg.model.kv_heads();
  if (c.model.position.type == "goat")
    c.model.position.train_len = goat_config(cfg.model.position, cfg.train.seq_len).train_len;
  return c;
}

namespace {

struct ExtraTensor {
  std::string name;
  Shape shape;
  std::vector<float> values;
};

// The tensors GoatAttention(fuse_qkv=True) holds that goatlm has no parameter for (prefix
// "h.{l}.attn."): the prior gate at its "off" values, the frequency buffers, and the (Hkv, 0)
// Fourier weights when R = 0.
std::vector<ExtraTensor> goat_extras(const ModelConfig& m, const std::string& prefix) {
  const int64_t H = m.n_head, Hkv = m.kv_heads(), R = m.position.pos_rank, M = m.position.abs_rank;
  const auto as_float = [](const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); };
  std::vector<ExtraTensor> x;
  if (R == 0) {
    x.push_back({prefix + "lambda_sym", Shape{Hkv, 0}, {}});
    x.push_back({prefix + "lambda_asym", Shape{Hkv, 0}, {}});
  }
  x.push_back({prefix + "prior_gate_scale_raw", Shape{H}, std::vector<float>(static_cast<size_t>(H), -10.f)});
  x.push_back({prefix + "prior_gate_bias", Shape{H}, std::vector<float>(static_cast<size_t>(H), 10.f)});
  x.push_back({prefix + "rel_freqs_base", Shape{R}, as_float(goat_frequencies(R))});
  x.push_back({prefix + "abs_freqs_base", Shape{M}, as_float(goat_frequencies(M))});
  return x;
}

}  // namespace

Arena export_tensors(const Gpt& model, const Config& cfg) {
  const Arena& params = model.params();
  const bool goat = cfg.model.position.type == "goat";
  Arena out;
  std::vector<ExtraTensor> extras;
  const auto add_extras = [&](int64_t layer) {
    for (ExtraTensor& e : goat_extras(cfg.model, "h." + std::to_string(layer) + ".attn.")) {
      out.add(e.name, e.shape);
      extras.push_back(std::move(e));
    }
  };
  int64_t layer = 0;
  for (const auto& e : params.entries()) {
    // h.{l}.ln_2.weight follows the last attention parameter of layer l.
    if (goat && e.name == "h." + std::to_string(layer) + ".ln_2.weight") add_extras(layer++);
    out.add(e.name, e.shape);
  }
  GOAT_CHECK(!goat || layer == cfg.model.n_layer, "export", "found {} GOAT layers, config has model.n_layer = {}",
             layer, cfg.model.n_layer);
  out.allocate();
  for (const auto& e : params.entries()) {
    const Tensor src = params.view(e.name);
    std::memcpy(out.view(e.name).data, src.data, src.nbytes());
  }
  for (const ExtraTensor& e : extras)
    if (!e.values.empty()) std::memcpy(out.view(e.name).data, e.values.data(), e.values.size() * sizeof(float));
  return out;
}

void export_model(const Gpt& model, const Config& cfg, const std::string& out_dir, const std::string& source) {
  const Config resolved = resolved_export_config(cfg);
  std::filesystem::create_directories(out_dir);
  const Arena tensors = export_tensors(model, resolved);
  data::save_safetensors(out_dir + "/model.safetensors", tensors,
                         {{"format", "goatlm-export"}, {"source", source}, {"config", to_json(resolved).dump()}});
  save_config(resolved, out_dir + "/config.json");
}

}  // namespace goat
