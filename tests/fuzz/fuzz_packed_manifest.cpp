// Fuzz target: the packed model manifest, streammoe.json (engine/io/packed_format.cpp): format,
// version, quantisation, the expert tensor table against the layout this build computes, the
// layer file list; then the checks against config.json (from the manifest's own "config") and
// the expert files on disk, which do not exist here.
#include <fstream>

#include "engine/io/packed_format.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static streammoe::fuzz::ScratchDir folder("packed");
  {
    std::ofstream out(folder.path() / streammoe::kPackedManifestName, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  return streammoe::fuzz::expect_error_or_success([&] {
    const streammoe::PackedManifest m = streammoe::read_packed_manifest(folder.path());
    (void)m.expert_file_bytes();
    (void)streammoe::manifest_to_json(m).dump();
    const std::string config_text = m.config.dump();
    {
      std::ofstream out(folder.path() / "config.json", std::ios::trunc);
      out << config_text;
    }
    const streammoe::ModelConfig c = streammoe::parse_config(config_text, "config.json");
    streammoe::check_packed_model(folder.path(), m, c);
  });
}
