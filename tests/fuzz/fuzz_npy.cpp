// Fuzz target: .npy files (read_npy in engine/util/npy.cpp), the reference logits `eval
// --ref-logits` reads: magic, version, header dict, shape tuple, dtype, data size.
#include "engine/util/npy.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static streammoe::fuzz::InputFile file;
  const std::filesystem::path& path = file.write(data, size);
  return streammoe::fuzz::expect_error_or_success([&] {
    const streammoe::NpyArray a = streammoe::read_npy(path);
    const auto n = static_cast<size_t>(a.numel());
    if (a.f32.size() != n && a.i64.size() != n) std::abort();  // the data matches the shape
  });
}
