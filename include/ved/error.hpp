#pragma once

#include <stdexcept>
#include <string>

namespace ved {

// Every failure ved reports is a ved::Error. Messages name the file, tensor, field or value at
// fault so that a user can act on them without a debugger.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// A file could not be opened, read or mapped.
class IoError : public Error {
 public:
  using Error::Error;
};

// A file was read but its contents are malformed (safetensors header, JSON, image data).
class FormatError : public Error {
 public:
  using Error::Error;
};

// config.json / generation_config.json / preprocessor_config.json hold a value ved cannot use.
class ConfigError : public Error {
 public:
  using Error::Error;
};

// A tensor is missing, or has the wrong shape or dtype.
class WeightError : public Error {
 public:
  using Error::Error;
};

// An argument passed through the API or CLI is invalid (wrong input shape, unsupported option).
class InvalidArgument : public Error {
 public:
  using Error::Error;
};

}  // namespace ved
