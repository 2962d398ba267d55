#pragma once

// Subcommands of the ved CLI that live in their own files; each gets argv from its own name on
// and returns the process exit code (errors are thrown as ved::Error and reported by main).

#include <cstdint>
#include <string>
#include <utility>

#include "ved/models/vision_encoder_decoder.hpp"

int bench_main(int argc, char** argv);

// For --config (bench.cpp): a folder's config.json (and generation_config.json when present)
// with seeded random weights, the real model's shapes without its weights.
ved::VisionEncoderDecoderModel synthetic_model(const std::string& dir, uint64_t seed,
                                               const ved::ModelOptions& options);
// The encoder's input size from its config: image_size is an int or [height, width].
std::pair<int64_t, int64_t> encoder_image_size(const ved::PretrainedConfig& encoder);
#ifdef VED_HAVE_SERVER
int serve_main(int argc, char** argv);        // ved serve (serve.cpp)
int bench_serve_main(int argc, char** argv);  // ved bench-serve (serve.cpp)
#endif
