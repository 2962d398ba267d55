#pragma once

// DeiT — "Training data-efficient image transformers & distillation through attention" (Touvron
// et al., 2020), transformers' modeling_deit.py. Checkpoints: facebook/deit-*-distilled-patch16-*,
// the encoder of microsoft/trocr-small-* (DeiT-small, 384x384). Distinctive: ViT plus a learned
// distillation token right after CLS, with position embeddings over both prefix tokens
// ([1, 2 + patches, hidden]). last_hidden_state keeps both: [B, 2 + patches, hidden], so a
// decoder cross-attends to CLS, distillation token and patches. Everything else (patch
// embedding, pre-LN blocks, final LayerNorm, eps 1e-12) is ViT's, and so are the modules.

#include "ved/models/vit.hpp"

namespace ved {

// DeiTConfig has ViTConfig's fields and defaults (hidden_size 768, 12 layers and heads,
// intermediate 3072, gelu, layer_norm_eps 1e-12, image 224, patch 16, qkv_bias true).
using DeiTConfig = ViTConfig;

// DeiTModel: ViTModel's embeddings with the distillation token (DeiTEmbeddings), ViT's layers.
class DeiTModel : public ViTModel {
 public:
  DeiTModel(const DeiTConfig& config, const WeightLoader& w)
      : ViTModel(config, w, /*distillation_token=*/true, "DeiT") {}
};

}  // namespace ved
