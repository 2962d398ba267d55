#pragma once

// Subcommands of the ved CLI that live in their own files; each gets argv from its own name on
// and returns the process exit code (errors are thrown as ved::Error and reported by main).

int bench_main(int argc, char** argv);
#ifdef VED_HAVE_SERVER
int serve_main(int argc, char** argv);        // ved serve (serve.cpp)
int bench_serve_main(int argc, char** argv);  // ved bench-serve (serve.cpp)
#endif
