// libFuzzer target: safetensors files (header, offsets, dtypes, data), read directly and through
// WeightSource::from_file (format sniffing, the total-weight-bytes limit).

#include "fuzz_common.hpp"
#include "ved/io/checkpoint.hpp"
#include "ved/io/safetensors.hpp"

namespace {

void read_all(const ved::SafetensorsFile& f) {
  for (const auto& [name, record] : f.records()) {
    try {
      const ved::Tensor<float> t = f.tensor<float>(name);
      ved_fuzz::consume(t.data(), t.numel());
    } catch (const ved::Error&) {
    }
    try {
      const ved::Tensor<int64_t> t = f.tensor<int64_t>(name);
      ved_fuzz::consume(t.data(), t.numel());
    } catch (const ved::Error&) {
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ved_fuzz::set_fuzz_limits();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = (ved_fuzz::scratch_dir() / "model.safetensors").string();
  ved_fuzz::write_bytes(path, data, size);
  try {
    read_all(*ved::SafetensorsFile::open(path));
  } catch (const ved::Error&) {
  }
  try {
    const auto src = ved::WeightSource::from_file(path);
    for (const auto& name : src->names()) {
      try {
        const ved::TensorToWrite w = src->stored(name);
        ved_fuzz::consume(w.bytes.data(), static_cast<int64_t>(w.bytes.size()));
      } catch (const ved::Error&) {
      }
    }
  } catch (const ved::Error&) {
  }
  return 0;
}
