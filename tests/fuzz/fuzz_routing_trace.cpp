// Fuzz target: routing traces (RoutingTrace::load in engine/models/routing_trace.cpp), what
// --replay-routing and --predictor oracle read: the header line, then one JSON object per
// (token, layer). Every routing the loader accepts is then read back as replay does.
#include "engine/models/routing_trace.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static streammoe::fuzz::InputFile file;
  const std::filesystem::path& path = file.write(data, size);
  return streammoe::fuzz::expect_error_or_success([&] {
    const streammoe::RoutingTrace trace = streammoe::RoutingTrace::load(path);
    streammoe::ModelConfig model;  // tiny-qwen35moe's routing shape
    model.num_layers = 8;
    model.num_experts = 32;
    model.experts_per_tok = 8;
    try {
      trace.check_fits(model);
    } catch (const streammoe::Error&) {  // a trace for another model: still read it back
    }
    for (int64_t t = 0; t < trace.tokens() + 1; ++t)
      for (int64_t layer = 0; layer < trace.layers(); ++layer)
        for (int32_t e : trace.at(t, layer).experts)
          if (e < 0 || e >= trace.experts()) std::abort();  // replay indexes experts by it
  });
}
