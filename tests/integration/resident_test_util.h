#pragma once
// For the tests of quantised resident weights: a copy of a packed folder whose quantised resident
// tensors are replaced by their exact f32 dequantisation (and the manifest says 16-bit), the
// reference the quantised path must reproduce up to f32 summation order.
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/io/packed_format.h"
#include "engine/model/safetensors.h"
#include "engine/model/safetensors_writer.h"
#include "engine/models/resident_format.h"
#include "engine/models/tensor_table.h"
#include "engine/ops/quant.h"

namespace streammoe::resident_test {

inline std::filesystem::path dequantised_copy(const std::filesystem::path& packed,
                                              const std::filesystem::path& out) {
  namespace fs = std::filesystem;
  fs::remove_all(out);
  fs::copy(packed, out, fs::copy_options::recursive);
  const PackedManifest m = read_packed_manifest(packed);
  const ModelConfig c = load_config(packed);
  const ModelTensors tensors(c);
  const TensorStore store = TensorStore::open(packed);
  std::vector<std::vector<float>> values;  // owns the dequantised data
  std::vector<TensorToWrite> write;
  std::vector<std::string> companions;
  for (const std::string& name : store.names()) {
    const TensorInfo& t = store.get(name);
    const auto role = tensors.role_of(name);
    const auto format =
        role ? resident_quant(m.resident, *role, tensors.shape(*role)) : std::nullopt;
    if (!format) {
      write.push_back({name, t.dtype, t.shape, t.data});
      continue;
    }
    const TensorShape shape = tensors.shape(*role);
    // Aligned copies of the arrays (the file need not align them for this test's reads).
    auto copy_of = [&](const std::string& n) {
      const TensorInfo& a = store.get(n);
      std::vector<uint32_t> words((a.data.size() + 3) / 4);
      std::memcpy(words.data(), a.data.data(), a.data.size());
      return words;
    };
    const std::vector<uint32_t> q = copy_of(name);
    const std::vector<uint32_t> s = copy_of(quant_scales_name(name));
    std::vector<uint32_t> b;
    if (format->scheme == QuantScheme::kAffine) b = copy_of(quant_biases_name(name));
    const QuantMatRef ref{format->bits,
                          format->group_size,
                          shape[0],
                          shape[1],
                          q.data(),
                          reinterpret_cast<const uint16_t*>(s.data()),
                          b.empty() ? nullptr : reinterpret_cast<const uint16_t*>(b.data()),
                          format->scheme};
    std::vector<float>& v = values.emplace_back(shape[0] * shape[1]);
    for (int64_t r = 0; r < shape[0]; ++r)
      dequantize_row(ref, r, std::span<float>(v).subspan(r * shape[1], shape[1]));
    write.push_back({name, DType::kF32, shape, std::as_bytes(std::span<const float>(v))});
    companions.push_back(quant_scales_name(name));
    companions.push_back(quant_biases_name(name));
  }
  std::erase_if(write, [&](const TensorToWrite& t) {
    return std::find(companions.begin(), companions.end(), t.name) != companions.end();
  });
  write_safetensors(out / m.resident_file, write, {{"format", "pt"}});
  nlohmann::json j;
  std::ifstream(out / kPackedManifestName) >> j;
  j["resident"] = {{"file", m.resident_file}, {"bits", 16}};
  std::ofstream(out / kPackedManifestName) << j.dump(2);
  return out;
}

}  // namespace streammoe::resident_test
