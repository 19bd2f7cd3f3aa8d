#include "harness/model_files.h"

#include <algorithm>
#include <fstream>

#include <nlohmann/json.hpp>

namespace streammoe::lab {

namespace fs = std::filesystem;

namespace {

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return nullptr;
  return nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
}

// The text model's config: nested under text_config in multimodal checkpoints.
nlohmann::json text_config(const nlohmann::json& config) {
  if (config.is_object() && config.contains("text_config") && config["text_config"].is_object())
    return config["text_config"];
  return config;
}

uint64_t number(const nlohmann::json& j, const char* key) {
  if (j.is_object() && j.contains(key) && j[key].is_number_unsigned()) return j[key].get<uint64_t>();
  if (j.is_object() && j.contains(key) && j[key].is_number_integer() && j[key].get<int64_t>() > 0)
    return static_cast<uint64_t>(j[key].get<int64_t>());
  return 0;
}

}  // namespace

ExpertFiles expert_files(const fs::path& model) {
  ExpertFiles out;
  std::error_code ec;
  nlohmann::json manifest = read_json(model / "streammoe.json");
  nlohmann::json config = read_json(model / "config.json");
  if (manifest.is_object() && manifest.contains("experts") && manifest["experts"].is_object()) {
    const auto& experts = manifest["experts"];
    out.packed = true;
    out.record_bytes = number(experts, "expert_stride");
    if (experts.contains("layers") && experts["layers"].is_array())
      for (const auto& layer : experts["layers"])
        if (layer.is_object() && layer.contains("file") && layer["file"].is_string())
          out.files.push_back(model / layer["file"].get<std::string>());
    if (!config.is_object() && manifest.contains("config")) config = manifest["config"];
  } else {
    for (auto it = fs::directory_iterator(model, ec); !ec && it != fs::end(it); it.increment(ec))
      if (it->path().extension() == ".safetensors" && it->is_regular_file(ec))
        out.files.push_back(it->path());
    std::sort(out.files.begin(), out.files.end());
    nlohmann::json text = text_config(config);
    uint64_t hidden = number(text, "hidden_size"), inner = number(text, "moe_intermediate_size");
    out.record_bytes = 3 * hidden * inner * 2;  // gate, up, down in bf16
  }
  out.experts_per_token = static_cast<int>(number(text_config(config), "num_experts_per_tok"));
  for (const auto& f : out.files) {
    auto size = fs::file_size(f, ec);
    if (!ec) out.total_bytes += size;
  }
  return out;
}

std::optional<ModelBytes> packed_model_bytes(const fs::path& model) {
  const ExpertFiles experts = expert_files(model);
  if (!experts.packed) return std::nullopt;
  nlohmann::json manifest = read_json(model / "streammoe.json");
  std::string resident = "model.safetensors";
  if (manifest.contains("resident") && manifest["resident"].is_object() && manifest["resident"].contains("file") &&
      manifest["resident"]["file"].is_string())
    resident = manifest["resident"]["file"].get<std::string>();
  std::error_code ec;
  const auto resident_bytes = fs::file_size(model / resident, ec);
  if (ec) return std::nullopt;
  return ModelBytes{static_cast<double>(resident_bytes), static_cast<double>(experts.total_bytes)};
}

}  // namespace streammoe::lab
