/* ved C API: caption / OCR with a Hugging Face VisionEncoderDecoder checkpoint from C or any
 * language with a C FFI (Python ctypes, Rust, Go, C#, ...).
 *
 *   ved_model* model = NULL;
 *   ved_result* result = NULL;
 *   if (ved_model_load("trocr-small-printed", &model) != VED_OK) {
 *     fprintf(stderr, "%s\n", ved_last_error_message());
 *     return 1;
 *   }
 *   if (ved_caption_file(model, "line.png", NULL, &result) == VED_OK)
 *     printf("%s (confidence %.3f)\n", result->text, result->confidence);
 *   ved_result_free(result);
 *   ved_model_free(model);
 *
 * Link with -lved_c (CMake: ved::ved_c), a shared library exporting only these functions.
 *
 * Errors: every function returns a ved_status. On failure the output pointer is set to NULL and
 * ved_last_error_message() gives a message naming the file or value at fault. No C++ exception
 * ever crosses this interface.
 *
 * Threads: a loaded ved_model is immutable; any number of threads may run ved_caption_* on one
 * model at once. The last error message is per thread. ved_set_num_threads is process-wide.
 */
#ifndef VED_VED_H
#define VED_VED_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define VED_C_API
#else
#define VED_C_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Error categories, the same as the C++ exception classes (ved/error.hpp). The values are part
 * of the ABI and never change. */
typedef enum ved_status {
  VED_OK = 0,
  VED_ERR_INVALID_ARGUMENT =
      1,              /* NULL pointer, bad size, bad generation option (InvalidArgument) */
  VED_ERR_IO = 2,     /* a file or folder cannot be opened or read (IoError) */
  VED_ERR_FORMAT = 3, /* a file's contents are malformed: image, JSON, weights (FormatError) */
  VED_ERR_CONFIG = 4, /* config.json and friends hold an unsupported value (ConfigError) */
  VED_ERR_WEIGHT = 5, /* a tensor is missing or has the wrong shape or dtype (WeightError) */
  VED_ERR_OUT_OF_MEMORY = 6, /* an allocation failed */
  VED_ERR_INTERNAL = 7       /* anything else: a bug in ved, please report it */
} ved_status;

/* A loaded checkpoint folder: model, image processor and tokenizer. */
typedef struct ved_model ved_model;

/* Generation options. Zero-initialise (`ved_options o = {0};`) for the checkpoint's defaults
 * (generation_config.json); a zero field keeps the default. */
typedef struct ved_options {
  int max_new_tokens; /* transformers' max_new_tokens */
  int num_beams;      /* transformers' num_beams: 1 greedy, > 1 beam search */
  /* Any other generate() keyword arguments as a JSON object, named as in transformers, e.g.
   * "{\"repetition_penalty\": 1.2, \"decoder_input_ids\": [[0, 57521]]}". NULL for none. */
  const char* generate_args_json;
} ved_options;

/* The text generated for one image. Free with ved_result_free. */
typedef struct ved_result {
  char* text;        /* UTF-8, NUL-terminated, special tokens removed */
  double confidence; /* exp(mean token log-probability), in (0, 1] */
  double score;      /* beam search: transformers' sequences_scores; otherwise the mean token
                        log-probability */
  int64_t* tokens;   /* decoder token ids, decoder start token first, up to the first eos */
  size_t num_tokens;
  float* token_logprobs; /* log-probability of each token after the prompt */
  size_t num_token_logprobs;
} ved_result;

/* "MAJOR.MINOR.PATCH" of the library actually linked. */
VED_C_API const char* ved_version(void);

/* A short English name for a status ("invalid argument", "I/O error", ...). */
VED_C_API const char* ved_status_string(ved_status status);

/* The message of the last failed call on this thread ("" if none). Valid until the next failing
 * call on this thread. */
VED_C_API const char* ved_last_error_message(void);

/* Loads a checkpoint folder as transformers' save_pretrained writes it (config.json, weights,
 * preprocessor_config.json and tokenizer files). */
VED_C_API ved_status ved_model_load(const char* dir, ved_model** out_model);

/* Loads the embedded default model (tiny-ocr: printed single text lines), found as
 * ved_default_model_dir() says. */
VED_C_API ved_status ved_model_load_default(ved_model** out_model);

/* The folder of the default model: the one given to ved_set_default_model_dir, else the
 * VED_DEFAULT_MODEL environment variable, else the tiny-ocr folder installed with ved (next to
 * the executable in a build tree or an install prefix, else the configured install prefix).
 * Returns NULL if there is none, with the places searched in ved_last_error_message(). The string
 * is this thread's and valid until its next call. */
VED_C_API const char* ved_default_model_dir(void);

/* Makes `dir` this process's default model; NULL or "" forgets it. */
VED_C_API ved_status ved_set_default_model_dir(const char* dir);

/* Frees a model; NULL is allowed. */
/* Applies what some checkpoints need beyond their files, by name: "manga-ocr" (kha-white/
 * manga-ocr-base: grey images, manga_ocr's text post-processing). Call before sharing the model
 * between threads. An unknown name is VED_ERR_INVALID_ARGUMENT. */
VED_C_API ved_status ved_model_set_preset(ved_model* model, const char* name);

VED_C_API void ved_model_free(ved_model* model);

/* Reads an image file (PNG, JPEG, BMP, GIF, PNM, TGA) and generates its text. `options` may be
 * NULL. */
VED_C_API ved_status ved_caption_file(const ved_model* model, const char* image_path,
                                      const ved_options* options, ved_result** out_result);

/* The same for 8-bit interleaved RGB pixels: `height` rows of `width` R,G,B triples, each row
 * starting `stride` bytes after the previous one (0 means width * 3). */
VED_C_API ved_status ved_caption_rgb(const ved_model* model, const uint8_t* rgb, int width,
                                     int height, size_t stride, const ved_options* options,
                                     ved_result** out_result);

/* Frees a result; NULL is allowed. */
VED_C_API void ved_result_free(ved_result* result);

/* Threads used by ved's kernels: n >= 1, or 0 for the default (VED_NUM_THREADS, else
 * OMP_NUM_THREADS, else the CPUs this process may use: its affinity mask and cgroup quota). */
VED_C_API ved_status ved_set_num_threads(int n);

#ifdef __cplusplus
}
#endif

#endif /* VED_VED_H */
