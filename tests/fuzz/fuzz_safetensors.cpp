// Fuzz target: one safetensors file (engine/model/safetensors.cpp): the 8-byte header length, the
// JSON header, every tensor entry and the overlap check, then to_f32 of each small tensor the
// reader accepted (what the engine does next with a dense tensor).
#include "engine/model/safetensors.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static streammoe::fuzz::InputFile file;
  const std::filesystem::path& path = file.write(data, size);
  return streammoe::fuzz::expect_error_or_success([&] {
    const streammoe::SafetensorsFile st(path);
    for (const auto& [name, info] : st.tensors()) {
      if (st.find(name) != &info) std::abort();
      (void)info.shape_string();
      if (info.data.size() <= (1u << 16) && (info.dtype == streammoe::DType::kF32 ||
                                             info.dtype == streammoe::DType::kF16 ||
                                             info.dtype == streammoe::DType::kBF16)) {
        if (streammoe::to_f32(info).size() != static_cast<size_t>(info.numel())) std::abort();
      }
    }
  });
}
