/* A C program against an installed ved through the C API: prints the library's version. */
#include <stdio.h>

#include <ved/ved.h>

int main(void) {
  ved_model* model = NULL;
  /* An error path, to show the library is really called: a missing folder is VED_ERR_IO. */
  if (ved_model_load("/nonexistent", &model) != VED_ERR_IO || model != NULL) return 1;
  printf("%s\n", ved_version());
  return 0;
}
