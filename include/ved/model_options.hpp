#pragma once

// How a model is loaded. Reduced-precision weights trade a little accuracy for speed: decoding at
// batch 1 streams every weight once per token, so halving or quartering their bytes speeds it up
// almost proportionally.

#include <string>

#include "ved/error.hpp"

namespace ved {

// The type the matrices of linear layers are kept in. Activations, biases, norms and embeddings
// stay f32 between layers. On CPUs with AVX512-BF16 / AVX512-VNNI the products with these
// weights also round their input rows, inside the kernel, to bf16 (BF16 weights) or to int8 per
// row (Int8 weights, decoding), and sum in f32 or exactly in int32; elsewhere the weights are
// widened to f32. Either way ved bench --compare-f32 measures the agreement with f32.
enum class WeightType {
  F32,   // exact: the same tokens as transformers
  BF16,  // bfloat16, rounded to nearest even from the stored weights
  Int8,  // symmetric int8 per output channel
};

struct ModelOptions {
  WeightType weight_type = WeightType::F32;
  // Weights in the checkpoint that the model never reads mean the folder is not the architecture
  // its config names (a look-alike with extra parameters, or a model_type ved reads differently):
  // by default a warning lists them, as transformers warns; strict makes it a WeightError.
  bool strict = false;
};

inline WeightType parse_weight_type(const std::string& name) {
  if (name == "f32" || name == "float32") return WeightType::F32;
  if (name == "bf16" || name == "bfloat16") return WeightType::BF16;
  if (name == "int8") return WeightType::Int8;
  throw InvalidArgument("unknown weight type '" + name + "' (expected f32, bf16 or int8)");
}

inline const char* weight_type_name(WeightType t) {
  switch (t) {
    case WeightType::F32:
      return "f32";
    case WeightType::BF16:
      return "bf16";
    case WeightType::Int8:
      return "int8";
  }
  return "?";
}

}  // namespace ved
