#pragma once

// ved's semantic version. Parsed by CMakeLists.txt: keep the three macros on their own lines.
// Within one MAJOR.MINOR the C++ API and the C API (ved/ved.h) only grow; vedConfigVersion.cmake
// accepts a find_package(ved X.Y) request for the same MAJOR.MINOR.
#define VED_VERSION_MAJOR 0
#define VED_VERSION_MINOR 1
#define VED_VERSION_PATCH 0

#define VED_VERSION_STRING "0.1.0"

// One comparable number, MAJOR * 10000 + MINOR * 100 + PATCH (0.1.0 -> 100).
#define VED_VERSION_NUMBER (VED_VERSION_MAJOR * 10000 + VED_VERSION_MINOR * 100 + VED_VERSION_PATCH)

// #if VED_VERSION_AT_LEAST(0, 2, 0) ... for code that supports several ved versions.
#define VED_VERSION_AT_LEAST(major, minor, patch) \
  (VED_VERSION_NUMBER >= (major)*10000 + (minor)*100 + (patch))

#ifdef __cplusplus
static_assert(VED_VERSION_MINOR < 100 && VED_VERSION_PATCH < 100,
              "VED_VERSION_NUMBER gives MINOR and PATCH two digits each");
#endif
