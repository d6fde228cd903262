// Export of a trained model for PyTorch (docs/goat.md "Export"): one fp32 safetensors file with
// the reference module's tensor names plus the resolved config.
//
//   OUTDIR/model.safetensors  every model parameter under its arena name (PyTorch [out, in]
//                             layout, fused q, k, v rows in attn.in_proj) and, per GOAT layer, what
//                             a strict load_state_dict into the authors' GoatAttention also needs:
//                             prior_gate_scale_raw (H) = −10, prior_gate_bias (H) = +10 (the
//                             optional prior gate, off), the frequency buffers rel_freqs_base (R)
//                             and abs_freqs_base (M), and lambda_sym / lambda_asym as (Hkv, 0)
//                             tensors when R = 0.
//   OUTDIR/config.json        the run's config with the defaults that depend on other keys
//                             resolved (model.n_kv_head, model.position.train_len for GOAT).
#pragma once

#include <string>

#include "config/config.h"
#include "core/arena.h"
#include "model/gpt.h"

namespace goat {

// cfg with n_kv_head = kv_heads() and, for GOAT, position.train_len = the D the model uses.
Config resolved_export_config(const Config& cfg);

// The export tensors of `model` (a fresh arena; the model is not modified).
Arena export_tensors(const Gpt& model, const Config& cfg);

// Writes OUTDIR/model.safetensors and OUTDIR/config.json (creating OUTDIR). `source` names where
// the weights came from and goes into the safetensors metadata.
void export_model(const Gpt& model, const Config& cfg, const std::string& out_dir, const std::string& source);

}  // namespace goat
