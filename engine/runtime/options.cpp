#include "engine/runtime/options.h"

#include <yaml-cpp/yaml.h>

#include <type_traits>

#include "engine/util/error.h"

namespace streammoe {
namespace {

template <typename T>
constexpr bool kIsEnum = std::is_enum_v<T>;

// Parses one switch's string form into its typed field.
struct Setter {
  const std::string& name;
  const std::string& value;
  bool found = false;

  template <typename T>
  void option(const char* n, T& field, const char*) {
    if (name != n) return;
    found = true;
    if constexpr (kIsEnum<T>) {
      if (!parse_enum(value, &field)) fail("--{}: invalid value '{}' (valid: {})", n, value, name_table(field).valid());
    } else if constexpr (std::is_same_v<T, int64_t>) {
      size_t used = 0;
      try {
        field = std::stoll(value, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != value.size() || value.empty()) fail("--{}: expected an integer, got '{}'", n, value);
    } else {
      field = value;
    }
  }
};

template <typename T>
nlohmann::json to_json_value(const T& field) {
  if constexpr (kIsEnum<T>) return std::string(enum_name(field));
  else if constexpr (std::is_same_v<T, std::filesystem::path>) return field.string();
  else return field;
}

struct JsonWriter {
  nlohmann::json* out;
  template <typename T>
  void option(const char* n, const T& field, const char*) { (*out)[n] = to_json_value(field); }
};

struct Describer {
  nlohmann::json* out;
  template <typename T>
  void option(const char* n, const T& field, const char* help) {
    nlohmann::json d = {{"name", n}, {"help", help}, {"values", nlohmann::json::array()}};
    if constexpr (kIsEnum<T>) {
      nlohmann::json value_help = nlohmann::json::array();  // [[value, help]] in table order
      for (const auto& e : name_table(field).entries) value_help.push_back({e.name, e.help});
      d.update({{"type", "enum"}, {"default", enum_name(field)}, {"values", name_table(field).names()},
                {"value_help", value_help}});
    } else if constexpr (std::is_same_v<T, int64_t>) {
      d.update({{"type", "int"}, {"default", std::to_string(field)}});
    } else {
      d.update({{"type", "string"}, {"default", field.string()}});
    }
    out->push_back(d);
  }
};

}  // namespace

void EngineOptions::set(const std::string& name, const std::string& value) {
  Setter setter{name, value};
  visit(setter);
  if (!setter.found) {
    std::string names;
    for (const auto& d : describe()) names += (names.empty() ? "" : ", ") + d["name"].get<std::string>();
    fail("unknown switch '{}' (known: {})", name, names);
  }
}

void EngineOptions::validate() const {
#ifndef STREAMMOE_HAVE_URING
  if (io == IoMode::kUring)
    fail("--io uring: this build has no liburing (STREAMMOE_HAVE_URING unset; valid here: {})",
         kIoModeNames.join(", ", IoMode::kUring));
#endif
  if (k < 0) fail("--k {} out of range: must be >= 0 (0 keeps the model's K)", k);
  if (threads < 1 || threads > 256) fail("--threads {} out of range [1, 256]", threads);
  if (prefill_chunk < 1 || prefill_chunk > 4096) fail("--prefill-chunk {} out of range [1, 4096]", prefill_chunk);
  if (fetch_batch < 0 || fetch_batch > 4096) fail("--fetch-batch {} out of range [0, 4096]", fetch_batch);
  if (io_threads < 0 || io_threads > 256) fail("--io-threads {} out of range [0, 256]", io_threads);
  if (readahead == Readahead::kOff && io == IoMode::kDirect)
    fail(
        "--readahead {} with --io {}: O_DIRECT reads bypass the page cache and its readahead "
        "(valid: --readahead {})",
        enum_name(readahead), enum_name(io), enum_name(Readahead::kKernel));
  if (readahead == Readahead::kOff && expert_cache == ExpertCacheKind::kLz4)
    fail(
        "--readahead {} with --expert-cache {}: the hint covers the packed expert files, not the "
        "LZ4 ones (valid: --readahead {})",
        enum_name(readahead), enum_name(expert_cache), enum_name(Readahead::kKernel));
  if (cache_entries < 0 || cache_bytes < 0) fail("--cache-entries/--cache-bytes must not be negative");
  if (expert_cache == ExpertCacheKind::kNone && (cache_entries > 0 || cache_bytes > 0))
    fail("--cache-entries/--cache-bytes given with --expert-cache none (valid caches: {})",
         kExpertCacheNames.join(", ", ExpertCacheKind::kNone));
  if (expert_cache != ExpertCacheKind::kNone && cache_entries == 0 && cache_bytes == 0)
    fail("--expert-cache {}: needs a capacity, --cache-entries N or --cache-bytes N", enum_name(expert_cache));
  if (routing == RoutingMode::kEarly && predictor != PredictorKind::kNone)
    fail("--predictor {} with --routing {}: the next MoE layer's experts are decided a layer ahead, not predicted, "
         "and --prefetch reads that decision (drop --predictor)",
         enum_name(predictor), enum_name(routing));
  if (prefetch != PrefetchKind::kNone && predictor == PredictorKind::kNone && routing != RoutingMode::kEarly)
    fail("--prefetch {} needs a --predictor (valid: {}), or --routing {} (which decides the next layer's experts "
         "a layer ahead)",
         enum_name(prefetch), kPredictorNames.join(", ", PredictorKind::kNone), enum_name(RoutingMode::kEarly));
  if (prefetch == PrefetchKind::kAsync && expert_cache == ExpertCacheKind::kNone)
    fail("--prefetch async reads into the expert cache: needs --expert-cache {} (with no cache use --prefetch {})",
         kExpertCacheNames.join(" or ", ExpertCacheKind::kNone), enum_name(PrefetchKind::kWillneed));
  if (overlap == OverlapMode::kPipelined && prefetch == PrefetchKind::kNone)
    fail("--overlap {} overlaps prefetch reads with compute: needs --prefetch {}", enum_name(overlap),
         kPrefetchNames.join(" or ", PrefetchKind::kNone));
  if (predict_k < 0 || predict_k > 4096) fail("--predict-k {} out of range [0, 4096]", predict_k);
  if (predict_k > 0 && predictor == PredictorKind::kNone)
    fail("--predict-k {} sets how many experts a prediction names: needs a --predictor (valid: {})",
         predict_k, kPredictorNames.join(", ", PredictorKind::kNone));
  if (predictor == PredictorKind::kOracle && predictor_trace.empty())
    fail("--predictor {} needs --predictor-trace FILE (a --record-routing trace of the same tokens)",
         enum_name(predictor));
  if (matvec == MatvecPath::kInt8 && dequant != DequantMode::kFma)
    fail("--dequant {} is a formulation of the f32 path: it does nothing with --matvec {} (use --matvec {})",
         enum_name(dequant), enum_name(matvec), enum_name(MatvecPath::kF32));
  if (expert_bits != 0 && expert_bits != 2 && expert_bits != 4)
    fail("--expert-bits: invalid value {} (valid: 0, 2, 4)", expert_bits);
}

void EngineOptions::apply_variant(const std::string& name_or_file, const std::filesystem::path& variants_dir) {
  std::filesystem::path path = name_or_file;
  if (!std::filesystem::exists(path)) path = variants_dir / (name_or_file + ".yaml");
  if (!std::filesystem::exists(path)) fail("variant '{}': no file {} or {}", name_or_file, name_or_file, path.string());
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    fail("variant '{}': {} is not a file (a variant is a name under {} or a YAML file)", name_or_file, path.string(),
         variants_dir.string());
  YAML::Node root;
  try {
    root = YAML::LoadFile(path.string());
  } catch (const YAML::Exception& e) {
    fail("{}: {}", path.string(), e.what());
  } catch (const std::exception& e) {  // an unreadable file: std::ios_base::failure
    fail("{}: cannot read: {}", path.string(), e.what());
  }
  if (!root.IsMap()) fail("{}: a variant must be a mapping with 'switches'", path.string());
  for (const auto& item : root) {
    const std::string key = item.first.as<std::string>();
    if (key != "name" && key != "description" && key != "switches" && key != "build")
      fail("{}:{}: unknown key '{}' (valid: name, description, switches, build)", path.string(),
           item.first.Mark().line + 1, key);
  }
  const YAML::Node switches = root["switches"];
  if (!switches) return;
  if (!switches.IsMap()) fail("{}: 'switches' must be a mapping", path.string());
  for (const auto& item : switches) {
    try {
      set(item.first.as<std::string>(), item.second.as<std::string>());
    } catch (const Error& e) {
      fail("{}:{}: {}", path.string(), item.first.Mark().line + 1, e.what());
    }
  }
}

nlohmann::json EngineOptions::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  JsonWriter writer{&j};
  const_cast<EngineOptions*>(this)->visit(writer);
  return j;
}

nlohmann::json EngineOptions::describe() {
  nlohmann::json j = nlohmann::json::array();
  Describer d{&j};
  EngineOptions defaults;
  defaults.visit(d);
  return j;
}

}  // namespace streammoe
