// libFuzzer target: pytorch_model.bin (the zip reader, the restricted unpickler, strided views).

#include "fuzz_common.hpp"
#include "ved/io/checkpoint.hpp"
#include "ved/io/torch_checkpoint.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ved_fuzz::set_fuzz_limits();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = (ved_fuzz::scratch_dir() / "pytorch_model.bin").string();
  ved_fuzz::write_bytes(path, data, size);
  try {
    const auto ckpt = ved::TorchCheckpoint::open(path);
    for (const auto& [name, record] : ckpt->records()) {
      try {
        const ved::Tensor<float> t = ckpt->tensor<float>(name);
        ved_fuzz::consume(t.data(), t.numel());
      } catch (const ved::Error&) {
      }
      try {
        const ved::Tensor<int64_t> t = ckpt->tensor<int64_t>(name);
        ved_fuzz::consume(t.data(), t.numel());
      } catch (const ved::Error&) {
      }
      try {
        const std::vector<unsigned char> b = ckpt->contiguous_bytes(name);
        ved_fuzz::consume(b.data(), static_cast<int64_t>(b.size()));
      } catch (const ved::Error&) {
      }
    }
  } catch (const ved::Error&) {
  }
  try {
    // The sniffing path (zip, legacy pickle/tar, else safetensors).
    const auto src = ved::WeightSource::from_file(path);
    (void)src->names();
  } catch (const ved::Error&) {
  }
  return 0;
}
