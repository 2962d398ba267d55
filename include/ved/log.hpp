#pragma once

// Warnings ved gives while it keeps going, such as weights of a checkpoint that the model never
// reads (transformers logs the same through logger.warning). By default each is printed to stderr
// as "ved: warning: ..."; an application can route them to its own log, or drop them with an
// empty handler.
//
//   ved::set_warning_handler([&](const std::string& m) { my_log.warn("{}", m); });

#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <utility>

namespace ved {

using WarningHandler = std::function<void(const std::string&)>;

namespace detail {

struct WarningSink {
  std::mutex mutex;
  WarningHandler handler = [](const std::string& message) {
    std::fprintf(stderr, "ved: warning: %s\n", message.c_str());
  };
};

inline WarningSink& warning_sink() {
  static WarningSink sink;
  return sink;
}

}  // namespace detail

// Replaces the handler; an empty function silences warnings. Returns the previous one.
inline WarningHandler set_warning_handler(WarningHandler handler) {
  auto& sink = detail::warning_sink();
  std::lock_guard<std::mutex> lock(sink.mutex);
  std::swap(sink.handler, handler);
  return handler;
}

inline void warn(const std::string& message) {
  auto& sink = detail::warning_sink();
  std::lock_guard<std::mutex> lock(sink.mutex);
  if (sink.handler) sink.handler(message);
}

}  // namespace ved
