/* Captions images through ved's C API (ved/ved.h), as a C program or another language would:
 *   caption_c MODEL_DIR IMAGE...
 * Prints "IMAGE: TEXT (confidence C)" per image; an image that cannot be read is reported with
 * its error category and the program goes on (exit status 1 at the end). */

#include <stdio.h>

#include <ved/ved.h>

int main(int argc, char** argv) {
  ved_model* model = NULL;
  ved_options options = {0};
  int failures = 0;
  if (argc < 3) {
    fprintf(stderr, "usage: caption_c MODEL_DIR IMAGE...\n");
    return 2;
  }
  if (ved_model_load(argv[1], &model) != VED_OK) {
    fprintf(stderr, "caption_c: %s\n", ved_last_error_message());
    return 1;
  }
  options.max_new_tokens = 16;
  options.num_beams = 4;
  for (int i = 2; i < argc; ++i) {
    ved_result* result = NULL;
    const ved_status status = ved_caption_file(model, argv[i], &options, &result);
    if (status != VED_OK) {
      fprintf(stderr, "caption_c: %s: %s\n", ved_status_string(status), ved_last_error_message());
      ++failures;
      continue;
    }
    printf("%s: %s (confidence %.4f)\n", argv[i], result->text, result->confidence);
    ved_result_free(result);
  }
  ved_model_free(model);
  return failures ? 1 : 0;
}
