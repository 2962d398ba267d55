#pragma once

// Parsed by CMakeLists.txt: keep the three macros on their own lines.
#define VED_VERSION_MAJOR 0
#define VED_VERSION_MINOR 1
#define VED_VERSION_PATCH 0

#define VED_VERSION_STRING "0.1.0"
