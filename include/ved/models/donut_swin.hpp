#pragma once

// DonutSwin — the encoder of Donut, "OCR-free Document Understanding Transformer" (Kim et al.,
// 2021), transformers' modeling_donut_swin.py. Checkpoints: naver-clova-ix/donut-base and its
// fine-tunes (2560x1920 input, window 10, depths [2, 2, 14, 2], embed_dim 128). The modules are
// Swin's (swin.hpp, "Copied from transformers.models.swin" upstream too); the one difference is
// that DonutSwinModel has no final LayerNorm, so last_hidden_state is the last stage's raw
// output. DonutSwinConfig has SwinConfig's fields and defaults.

#include "ved/models/swin.hpp"

namespace ved {

using DonutSwinConfig = SwinConfig;

class DonutSwinModel : public SwinModel {
 public:
  DonutSwinModel(const DonutSwinConfig& config, const WeightLoader& w)
      : SwinModel(config, w, /*final_layernorm=*/false, "DonutSwin") {}
};

}  // namespace ved
