// Fuzz target: config.json (parse_config in engine/model/config.cpp): every key, its type and
// range, nested text_config, rope parameters, layer types and dense-layer lists.
#include <string>

#include "engine/model/config.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(streammoe::fuzz::as_text(data, size));
  return streammoe::fuzz::expect_error_or_success([&] {
    const streammoe::ModelConfig c = streammoe::parse_config(text, "config.json");
    (void)c.summary();
    if (static_cast<int64_t>(c.layer_types.size()) != c.num_layers ||
        static_cast<int64_t>(c.ffn_types.size()) != c.num_layers)
      std::abort();  // every consumer indexes both by layer
  });
}
