// Fuzz target: model.safetensors.index.json (TensorStore::open in engine/model/safetensors.cpp):
// the weight map, shard names (which must stay inside the folder) and the tensor-to-shard check.
// The folder holds two small valid shards, so an index that names them gets past the parse.
#include <fstream>

#include "engine/model/safetensors.h"
#include "engine/model/safetensors_writer.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using namespace streammoe;

struct Folder {
  fuzz::ScratchDir dir{"index"};
  std::vector<float> values = {1, 2, 3, 4, 5, 6};
  Folder() {
    const auto bytes = std::as_bytes(std::span(values));
    const TensorToWrite a[] = {{"model.embed_tokens.weight", DType::kF32, {2, 2}, bytes.first(16)},
                               {"model.norm.weight", DType::kF32, {2}, bytes.subspan(16, 8)}};
    const TensorToWrite b[] = {{"lm_head.weight", DType::kBF16, {2, 2}, bytes.first(8)},
                               {"model.layers.0.mlp.gate.weight", DType::kF16, {2}, bytes.subspan(8, 4)}};
    write_safetensors(dir.path() / "model-00001-of-00002.safetensors", a);
    write_safetensors(dir.path() / "model-00002-of-00002.safetensors", b);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Folder folder;
  {
    std::ofstream out(folder.dir.path() / "model.safetensors.index.json", std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  return fuzz::expect_error_or_success([&] {
    const TensorStore store = TensorStore::open(folder.dir.path());
    for (const std::string& name : store.names())
      if (store.find(name) == nullptr || !store.has(name)) std::abort();
  });
}
