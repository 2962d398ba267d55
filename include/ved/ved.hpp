#pragma once

// ved — Hugging Face VisionEncoderDecoderModel checkpoints in native C++: image in, text out.
//
//   #include <ved/ved.hpp>
//
//   auto model = ved::VisionEncoderDecoderModel::from_pretrained("vit-gpt2-image-captioning");
//   auto processor = ved::ImageProcessor::from_pretrained("vit-gpt2-image-captioning");
//   auto tokenizer = ved::Tokenizer::from_pretrained("vit-gpt2-image-captioning");
//
//   ved::Tensor<float> pixels = processor.preprocess(ved::load_image("cat.jpg"));
//   ved::GenerateOutput out = model.generate(pixels, {{"max_new_tokens", 16}});
//   std::cout << tokenizer->decode(out.sequences[0]) << "\n";
//
// A loaded model, processor and tokenizer are immutable and may be shared by any number of
// threads; every generate() call keeps its own state. Every failure throws a ved::Error.

#include "ved/config.hpp"
#include "ved/default_model.hpp"
#include "ved/error.hpp"
#include "ved/generation/generation_config.hpp"
#include "ved/generation/logits_process.hpp"
#include "ved/generation/search.hpp"
#include "ved/io/checkpoint.hpp"
#include "ved/io/image.hpp"
#include "ved/io/pdf.hpp"
#include "ved/io/safetensors.hpp"
#include "ved/limits.hpp"
#include "ved/model_options.hpp"
#include "ved/models/vision_encoder_decoder.hpp"
#include "ved/pipeline.hpp"
#include "ved/processing/donut.hpp"
#include "ved/processing/image_processor.hpp"
#include "ved/processing/postprocess.hpp"
#include "ved/processing/tokenizer.hpp"
#include "ved/tensor.hpp"
#include "ved/threads.hpp"
#include "ved/version.hpp"
