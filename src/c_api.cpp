// The C API (include/ved/ved.h) over ved::ImageToText. Every entry point catches everything:
// a C caller cannot unwind a C++ exception, so each one becomes a status and a per-thread
// message.

#include "ved/ved.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "ved/default_model.hpp"
#include "ved/pipeline.hpp"
#include "ved/threads.hpp"
#include "ved/version.hpp"

struct ved_model {
  ved::ImageToText pipeline;
};

namespace {

thread_local std::string g_last_error;
thread_local std::string g_default_model_dir;

ved_status fail(ved_status status, const std::string& message) {
  g_last_error = message;
  return status;
}

// Runs `body`, mapping each ved::Error class to its status.
template <typename F>
ved_status guarded(F&& body) noexcept {
  try {
    body();
    return VED_OK;
  } catch (const ved::InvalidArgument& e) {
    return fail(VED_ERR_INVALID_ARGUMENT, e.what());
  } catch (const ved::IoError& e) {
    return fail(VED_ERR_IO, e.what());
  } catch (const ved::FormatError& e) {
    return fail(VED_ERR_FORMAT, e.what());
  } catch (const ved::ConfigError& e) {
    return fail(VED_ERR_CONFIG, e.what());
  } catch (const ved::WeightError& e) {
    return fail(VED_ERR_WEIGHT, e.what());
  } catch (const std::bad_alloc&) {
    return fail(VED_ERR_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return fail(VED_ERR_INTERNAL, std::string("internal error: ") + e.what());
  } catch (...) {
    return fail(VED_ERR_INTERNAL, "internal error: unknown exception");
  }
}

void require(const void* p, const char* function, const char* name) {
  if (!p) throw ved::InvalidArgument(std::string(function) + ": " + name + " is NULL");
}

// The options as generate() keyword arguments. They come from the caller, so malformed JSON or
// an unusable value is reported as VED_ERR_INVALID_ARGUMENT, not as a bad file or config.
ved::detail::json to_kwargs(const ved_model& model, const ved_options* options) {
  ved::detail::json kwargs = ved::detail::json::object();
  if (!options) return kwargs;
  if (options->max_new_tokens < 0 || options->num_beams < 0)
    throw ved::InvalidArgument("ved_options: max_new_tokens and num_beams must not be negative");
  try {
    if (options->generate_args_json) {
      kwargs =
          ved::detail::parse_json(options->generate_args_json, "ved_options.generate_args_json");
      if (!kwargs.is_object())
        throw ved::InvalidArgument("ved_options.generate_args_json must be a JSON object, got " +
                                   std::string(options->generate_args_json));
    }
    if (options->max_new_tokens) kwargs["max_new_tokens"] = options->max_new_tokens;
    if (options->num_beams) kwargs["num_beams"] = options->num_beams;
    ved::detail::json settings = kwargs;
    settings.erase("decoder_input_ids");
    ved::GenerationConfig check = model.pipeline.model().generation_config();
    check.update(settings, "ved_options");
    check.validate();
  } catch (const ved::FormatError& e) {
    throw ved::InvalidArgument(e.what());
  } catch (const ved::ConfigError& e) {
    throw ved::InvalidArgument(e.what());
  }
  return kwargs;
}

template <typename T>
T* copy_array(const std::vector<T>& v) {
  T* out = static_cast<T*>(std::malloc(std::max<size_t>(1, v.size()) * sizeof(T)));
  if (!out) throw std::bad_alloc();
  std::copy(v.begin(), v.end(), out);
  return out;
}

ved_result* to_c(const ved::TextResult& r) {
  auto* out = static_cast<ved_result*>(std::calloc(1, sizeof(ved_result)));
  if (!out) throw std::bad_alloc();
  std::unique_ptr<ved_result, void (*)(ved_result*)> guard(out, ved_result_free);
  out->text = static_cast<char*>(std::malloc(r.text.size() + 1));
  if (!out->text) throw std::bad_alloc();
  std::memcpy(out->text, r.text.c_str(), r.text.size() + 1);
  out->confidence = r.confidence;
  out->score = r.score;
  out->tokens = copy_array(r.tokens);
  out->num_tokens = r.tokens.size();
  out->token_logprobs = copy_array(r.token_logprobs);
  out->num_token_logprobs = r.token_logprobs.size();
  return guard.release();
}

}  // namespace

extern "C" {

const char* ved_version(void) {
  return VED_VERSION_STRING;
}

const char* ved_status_string(ved_status status) {
  switch (status) {
    case VED_OK:
      return "ok";
    case VED_ERR_INVALID_ARGUMENT:
      return "invalid argument";
    case VED_ERR_IO:
      return "I/O error";
    case VED_ERR_FORMAT:
      return "malformed file";
    case VED_ERR_CONFIG:
      return "unsupported configuration";
    case VED_ERR_WEIGHT:
      return "missing or malformed weight";
    case VED_ERR_OUT_OF_MEMORY:
      return "out of memory";
    case VED_ERR_INTERNAL:
      return "internal error";
  }
  return "unknown status";
}

const char* ved_last_error_message(void) {
  return g_last_error.c_str();
}

ved_status ved_model_load(const char* dir, ved_model** out_model) {
  if (out_model) *out_model = nullptr;
  return guarded([&] {
    require(out_model, "ved_model_load", "out_model");
    require(dir, "ved_model_load", "dir");
    *out_model = new ved_model{ved::ImageToText::from_pretrained(dir)};
  });
}

ved_status ved_model_load_default(ved_model** out_model) {
  if (out_model) *out_model = nullptr;
  return guarded([&] {
    require(out_model, "ved_model_load_default", "out_model");
    *out_model = new ved_model{ved::ImageToText::from_pretrained(ved::default_model_dir())};
  });
}

const char* ved_default_model_dir(void) {
  const ved_status s = guarded([] { g_default_model_dir = ved::default_model_dir(); });
  return s == VED_OK ? g_default_model_dir.c_str() : nullptr;
}

ved_status ved_set_default_model_dir(const char* dir) {
  return guarded([&] { ved::set_default_model_dir(dir ? dir : ""); });
}

ved_status ved_model_set_preset(ved_model* model, const char* name) {
  return guarded([&] {
    require(model, "ved_model_set_preset", "model");
    require(name, "ved_model_set_preset", "name");
    model->pipeline.set_preset(name);
  });
}

void ved_model_free(ved_model* model) {
  delete model;
}

ved_status ved_caption_file(const ved_model* model, const char* image_path,
                            const ved_options* options, ved_result** out_result) {
  if (out_result) *out_result = nullptr;
  return guarded([&] {
    require(out_result, "ved_caption_file", "out_result");
    require(model, "ved_caption_file", "model");
    require(image_path, "ved_caption_file", "image_path");
    *out_result =
        to_c(model->pipeline.run(ved::load_image(image_path), to_kwargs(*model, options)));
  });
}

ved_status ved_caption_rgb(const ved_model* model, const uint8_t* rgb, int width, int height,
                           size_t stride, const ved_options* options, ved_result** out_result) {
  if (out_result) *out_result = nullptr;
  return guarded([&] {
    require(out_result, "ved_caption_rgb", "out_result");
    require(model, "ved_caption_rgb", "model");
    require(rgb, "ved_caption_rgb", "rgb");
    if (width <= 0 || height <= 0)
      throw ved::InvalidArgument("ved_caption_rgb: image size " + std::to_string(width) + "x" +
                                 std::to_string(height) + " is not positive");
    const size_t row = static_cast<size_t>(width) * 3;
    if (stride == 0) stride = row;
    if (stride < row)
      throw ved::InvalidArgument("ved_caption_rgb: stride " + std::to_string(stride) +
                                 " is less than width * 3 = " + std::to_string(row));
    ved::Image image(width, height);
    for (int y = 0; y < height; ++y) std::memcpy(image.row(y), rgb + y * stride, row);
    *out_result = to_c(model->pipeline.run(image, to_kwargs(*model, options)));
  });
}

void ved_result_free(ved_result* result) {
  if (!result) return;
  std::free(result->text);
  std::free(result->tokens);
  std::free(result->token_logprobs);
  std::free(result);
}

ved_status ved_set_num_threads(int n) {
  return guarded([&] { ved::set_num_threads(n); });
}

}  // extern "C"
