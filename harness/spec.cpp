#include "harness/spec.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "engine/util/error.h"
#include "harness/estimate.h"
#include "harness/hash.h"
#include "harness/model_shape.h"
#include "harness/store_schema.h"
#include "harness/variant_bundle.h"
#include "harness/yaml_reader.h"

namespace streammoe::lab {

namespace fs = std::filesystem;

// The smallest memory budget a run can have: `streammoe generate` on the 14M bundled model
// peaks at 15 MiB of RSS, so a budget below this only measures the OOM killer.
constexpr uint64_t kMinMemoryBudget = 16ull << 20;

std::string to_string(CacheState state) { return state == CacheState::kCold ? "cold" : "warm"; }

std::optional<uint64_t> parse_bytes(std::string_view text) {
  std::string s(text);
  s.erase(std::remove_if(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c); }),
          s.end());
  if (s.empty()) return std::nullopt;
  size_t unit_at = s.find_first_not_of("0123456789.");
  std::string number = s.substr(0, unit_at);
  std::string unit = unit_at == std::string::npos ? "" : s.substr(unit_at);
  if (number.empty() || std::count(number.begin(), number.end(), '.') > 1) return std::nullopt;
  std::transform(unit.begin(), unit.end(), unit.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  static const std::vector<std::pair<std::vector<std::string>, double>> units = {
      {{"", "b"}, 1.0},
      {{"k", "kb", "kib"}, 1024.0},
      {{"m", "mb", "mib"}, 1024.0 * 1024},
      {{"g", "gb", "gib"}, 1024.0 * 1024 * 1024},
      {{"t", "tb", "tib"}, 1024.0 * 1024 * 1024 * 1024},
  };
  for (const auto& [names, scale] : units)
    if (std::find(names.begin(), names.end(), unit) != names.end()) {
      double value = 0;  // from_chars: "." or 400 digits are nullopt, not std::stod's exceptions
      const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
      if (ec != std::errc() || end != number.data() + number.size()) return std::nullopt;
      value *= scale;
      if (!(value >= 1.0) || value > 1e18) return std::nullopt;
      return static_cast<uint64_t>(std::llround(value));
    }
  return std::nullopt;
}

std::vector<std::string> keep_metrics() {
  std::vector<std::string> names;
  for (const auto& column : lab_schema().table("metrics").columns)
    if (column.sql.rfind("REAL", 0) == 0) names.emplace_back(column.name);
  return names;
}

bool higher_is_better(const std::string& metric) {
  auto ends_with = [&](std::string_view tail) {
    return metric.size() >= tail.size() && metric.compare(metric.size() - tail.size(), tail.size(), tail) == 0;
  };
  return ends_with("tok_s") || ends_with("hit_rate") || ends_with("share") || ends_with("precision") ||
         ends_with("recall");
}

fs::path find_project_root(const fs::path& start) {
  std::error_code ec;
  fs::path dir = fs::weakly_canonical(start, ec);
  if (ec) dir = start;
  for (fs::path p = dir; !p.empty(); p = p.parent_path()) {
    if (fs::is_directory(p / "variants", ec)) return p;
    if (p == p.parent_path()) break;
  }
  return dir;
}

std::vector<std::string> cmake_options(const fs::path& cmakelists) {
  std::ifstream in(cmakelists);
  std::stringstream text;
  text << in.rdbuf();
  std::string content = text.str();
  std::vector<std::string> names;
  static const std::regex option_re(R"(option\s*\(\s*(STREAMMOE_[A-Z0-9_]+))");
  for (auto it = std::sregex_iterator(content.begin(), content.end(), option_re);
       it != std::sregex_iterator(); ++it)
    names.push_back((*it)[1]);
  return names;
}

const Variant& ExperimentSpec::baseline_variant() const {
  for (const auto& v : variants)
    if (v.name == baseline) return v;
  fail("{}: baseline {} is not among the variants", file.string(), baseline);
}

const fs::path& ExperimentSpec::model_for(const Variant& variant, size_t model_index) const {
  return variant.model.empty() ? models.at(model_index) : variant.model;
}

const fs::path& ExperimentSpec::quality_model_for(const Variant& variant, size_t model_index) const {
  if (!variant.quality_model.empty()) return variant.quality_model;
  if (!quality_model.empty()) return quality_model;
  return model_for(variant, model_index);
}

const fs::path& ExperimentSpec::reference_for(size_t model_index) const {
  if (!quality.reference_model.empty()) return quality.reference_model;
  if (!quality_model.empty()) return quality_model;
  return models.at(model_index);
}

uint64_t BudgetShare::bytes(const ModelBytes& model) const {
  return static_cast<uint64_t>(model.resident + page_cache_share * model.experts) + overhead_bytes;
}

std::string BudgetShare::describe(const ModelBytes& model) const {
  auto gb = [](double bytes) { return bytes_text(bytes); };
  return fmt::format("{} resident + {:.0f}% of {} experts + {} overhead = {}", gb(model.resident),
                     100 * page_cache_share, gb(model.experts), gb(static_cast<double>(overhead_bytes)),
                     gb(static_cast<double>(bytes(model))));
}

nlohmann::json BudgetShare::to_json() const {
  return {{"page_cache_share", page_cache_share}, {"overhead_bytes", overhead_bytes}};
}

const RoutingReplaySpec* ExperimentSpec::routing_for(const Variant& variant) const {
  if (variant.routing) return &*variant.routing;
  return routing ? &*routing : nullptr;
}

const fs::path* ExperimentSpec::replay_for(const Variant& variant, size_t model_index, int repeat) const {
  if (model_index >= variant.replay.size() || variant.replay[model_index].empty()) return nullptr;
  const auto& windows = variant.replay[model_index];
  return &windows[static_cast<size_t>(repeat) % windows.size()];
}

const fs::path* ExperimentSpec::predictor_trace_for(const Variant& variant, size_t model_index, int repeat) const {
  const RoutingReplaySpec* routing = routing_for(variant);
  if (!routing || !routing->predictor_trace) return nullptr;
  if (routing->predictor_source.empty()) return replay_for(variant, model_index, repeat);
  if (model_index >= variant.predictor_replay.size() || variant.predictor_replay[model_index].empty()) return nullptr;
  const auto& windows = variant.predictor_replay[model_index];
  return &windows[static_cast<size_t>(repeat) % windows.size()];
}

int64_t Workload::max_fed_tokens() const {
  int64_t prompt = 0;
  for (const std::string& p : prompts)
    prompt = std::max<int64_t>(prompt, token_ids ? static_cast<int64_t>(std::count(p.begin(), p.end(), ',') + 1)
                                                 : static_cast<int64_t>(p.size()));
  return prompt + tokens - 1;
}

nlohmann::json ExperimentSpec::to_json() const {
  nlohmann::json j;
  j["name"] = name;
  j["hypothesis"] = hypothesis;
  j["track"] = track;
  j["models"] = nlohmann::json::array();
  for (const auto& m : models) j["models"].push_back(m.string());
  if (!packs.empty()) {
    j["packs"] = nlohmann::json::array();
    for (const auto& p : packs) j["packs"].push_back(p.to_json());
  }
  j["workload"] = {{"prompts", workload.prompts},
                   {"token_ids", workload.token_ids},
                   {"source", workload.source},
                   {"tokens", workload.tokens},
                   {"prefill", workload.prefill}};
  if (workload.ignore_eos) j["workload"]["ignore_eos"] = true;
  if (routing) j["routing"] = routing->to_json();
  if (!replays.empty()) {
    j["replays"] = nlohmann::json::array();
    for (const auto& r : replays) j["replays"].push_back({{"file", r.file.string()}, {"derived_from", r.provenance()}});
  }
  j["repeats"] = repeats;
  if (warmup > 0) j["warmup"] = warmup;
  if (min_time_s > 0) {
    j["min_time_s"] = min_time_s;
    j["max_repeats"] = max_repeats;
  }
  j["cache"] = to_string(cache);
  j["drop_caches"] = drop_caches;
  j["memory_budget_bytes"] = memory_budget_bytes ? nlohmann::json(*memory_budget_bytes) : nullptr;
  if (memory_budget_share) j["memory_budget_share"] = memory_budget_share->to_json();
  j["timeout_s"] = timeout_s;
  j["order"] = order == RunOrder::kGrouped ? "grouped" : "interleaved";
  j["baseline"] = baseline;
  j["variants"] = nlohmann::json::array();
  for (const auto& v : variants) {
    j["variants"].push_back({{"name", v.name},
                             {"origin", v.origin},
                             {"bundle", v.bundle},
                             {"switches", v.switches},
                             {"build", v.build_options}});
    if (!v.model.empty()) j["variants"].back()["model"] = v.model.string();
    if (!v.quality_model.empty()) j["variants"].back()["quality_model"] = v.quality_model.string();
    if (v.routing) j["variants"].back()["routing"] = v.routing->to_json();
    if (!v.replay.empty()) {
      nlohmann::json files = nlohmann::json::array();
      for (const auto& windows : v.replay) {
        files.push_back(nlohmann::json::array());
        for (const auto& f : windows) files.back().push_back(f.string());
      }
      j["variants"].back()["replay"] = files;
    }
  }
  if (!quality_model.empty()) j["quality_model"] = quality_model.string();
  if (quality.enabled)
    j["quality"] = {{"text_file", quality.text_file.string()},
                    {"ids", quality.ids},
                    {"max_tokens", quality.max_tokens},
                    {"reference_model", quality.reference_model.string()},
                    {"reference_switches", quality.reference_switches},
                    {"json_prompts", quality.json_prompts.string()},
                    {"json_tokens", quality.json_tokens},
                    {"json_limit", quality.json_limit}};
  auto opt = [](const std::optional<double>& v) { return v ? nlohmann::json(*v) : nullptr; };
  j["keep"] = {{"metric", keep.metric},
               {"higher_is_better", keep.higher_is_better},
               {"min_runs", keep.min_runs},
               {"paired", keep.paired},
               {"min_speedup", keep.min_speedup},
               {"confidence", keep.confidence},
               {"max_kld_mean", opt(keep.max_kld_mean)},
               {"max_kld_p99", opt(keep.max_kld_p99)},
               {"min_top1_agree", opt(keep.min_top1_agree)},
               {"max_ppl_ratio", opt(keep.max_ppl_ratio)},
               {"min_json_validity", opt(keep.min_json_validity)},
               {"max_json_validity_drop", opt(keep.max_json_validity_drop)}};
  return j;
}

std::string ExperimentSpec::identity_hash() const {
  nlohmann::json j = to_json();
  for (const char* ignored : {"name", "hypothesis", "track", "timeout_s", "keep", "order",
                              "min_time_s", "max_repeats"})
    j.erase(ignored);
  return StableHash().add(j.dump()).hex();
}

namespace {

// Parses one experiment file; a class only to keep the file and options at hand.
class SpecReader {
 public:
  SpecReader(YamlFile file, const SpecOptions& options) : file_(std::move(file)), options_(options) {
    if (!options.catalog)
      fail("{}: no engine switch list to validate against", file_.path().string());
  }

  ExperimentSpec read() {
    ExperimentSpec spec;
    spec.file = file_.path();
    spec.yaml_text = file_.text();
    auto keys = file_.keys(file_.root(), "the experiment",
                           {"name", "hypothesis", "track", "root", "model", "models", "workload",
                            "repeats", "cache", "drop_caches", "memory_budget", "timeout_s",
                            "order", "baseline", "variants", "matrix", "quality", "keep", "max_runs",
                            "min_time_s", "max_repeats", "warmup", "quality_model", "routing"});
    auto required = [&](const char* key) -> YAML::Node {
      if (!keys.count(key)) file_.fail_at(file_.root(), fmt::format("missing key '{}'", key));
      return keys[key];
    };

    spec.name = file_.text_value(required("name"), "name");
    if (keys.count("hypothesis")) spec.hypothesis = file_.scalar(keys["hypothesis"], "hypothesis");
    spec.track = keys.count("track") ? file_.text_value(keys["track"], "track") : spec.name;

    if (options_.root) {
      root_ = *options_.root;
    } else if (keys.count("root")) {
      root_ = file_.path().parent_path() / file_.text_value(keys["root"], "root");
    } else {
      root_ = find_project_root(file_.path().parent_path().empty() ? fs::path(".")
                                                                   : file_.path().parent_path());
    }
    spec.root = root_;
    build_option_names_ = options_.build_options.empty() ? cmake_options(root_ / "CMakeLists.txt")
                                                         : options_.build_options;

    read_models(spec, keys);
    read_workload(spec, required("workload"));
    if (keys.count("repeats"))
      spec.repeats = static_cast<int>(file_.integer(keys["repeats"], "repeats", 1, 10000));
    if (keys.count("warmup"))
      spec.warmup = static_cast<int>(file_.integer(keys["warmup"], "warmup", 0, 1000));
    if (keys.count("min_time_s")) {
      spec.min_time_s = file_.number(keys["min_time_s"], "min_time_s");
      if (!(spec.min_time_s >= 0)) file_.fail_at(keys["min_time_s"], "min_time_s must not be negative");
    }
    if (keys.count("max_repeats"))
      spec.max_repeats = static_cast<int>(file_.integer(keys["max_repeats"], "max_repeats", 1, 100000));
    if (spec.min_time_s > 0 && spec.max_repeats == 0) spec.max_repeats = 10 * spec.repeats;
    if (spec.max_repeats > 0 && spec.max_repeats < spec.repeats)
      file_.fail_at(keys["max_repeats"], fmt::format("max_repeats ({}) is below repeats ({})",
                                                     spec.max_repeats, spec.repeats));
    if (keys.count("max_runs"))
      spec.max_runs = file_.integer(keys["max_runs"], "max_runs", 1, int64_t{1} << 40);
    if (options_.max_runs) spec.max_runs = *options_.max_runs;
    if (keys.count("cache")) {
      std::string cache = file_.scalar(keys["cache"], "cache");
      if (cache == "cold") {
        spec.cache = CacheState::kCold;
      } else if (cache == "warm") {
        spec.cache = CacheState::kWarm;
      } else {
        file_.fail_at(keys["cache"], fmt::format("cache must be cold or warm, got '{}'", cache));
      }
    }
    if (keys.count("drop_caches"))
      spec.drop_caches = file_.boolean(keys["drop_caches"], "drop_caches");
    if (keys.count("memory_budget") && keys["memory_budget"].IsMap()) {
      spec.memory_budget_share = read_budget_share(keys["memory_budget"]);
    } else if (keys.count("memory_budget") && !keys["memory_budget"].IsNull()) {
      std::string text = file_.scalar(keys["memory_budget"], "memory_budget");
      spec.memory_budget_bytes = parse_bytes(text);
      if (!spec.memory_budget_bytes)
        file_.fail_at(keys["memory_budget"],
                      fmt::format("memory_budget must be a size like 8GiB or 512MiB, got '{}'",
                                  text));
      if (*spec.memory_budget_bytes < kMinMemoryBudget)
        file_.fail_at(keys["memory_budget"],
                      fmt::format("memory_budget {} is below the floor of 16MiB, less than any "
                                  "engine run needs",
                                  text));
    }
    if (keys.count("timeout_s")) {
      spec.timeout_s = file_.number(keys["timeout_s"], "timeout_s");
      if (!(spec.timeout_s > 0)) file_.fail_at(keys["timeout_s"], "timeout_s must be positive");
    }
    if (keys.count("order")) {
      std::string order = file_.scalar(keys["order"], "order");
      if (order == "interleaved") {
        spec.order = RunOrder::kInterleaved;
      } else if (order == "grouped") {
        spec.order = RunOrder::kGrouped;
      } else {
        file_.fail_at(keys["order"],
                      fmt::format("order must be interleaved or grouped, got '{}'", order));
      }
    }

    if (keys.count("routing")) spec.routing = read_routing(keys["routing"]);  // before the variants: checked with them
    read_variants(spec, required("variants"));
    YAML::Node baseline_node = required("baseline");
    spec.baseline = file_.text_value(baseline_node, "baseline");
    auto baseline_it = std::find_if(spec.variants.begin(), spec.variants.end(),
                                    [&](const Variant& v) { return v.name == spec.baseline; });
    if (baseline_it == spec.variants.end())
      file_.fail_at(baseline_node, fmt::format("baseline '{}' is not one of the variants",
                                               spec.baseline));
    std::rotate(spec.variants.begin(), baseline_it, baseline_it + 1);  // baseline first
    if (keys.count("matrix")) read_matrix(spec, keys["matrix"]);
    check_run_count(spec, spec.variants.size(), keys.count("matrix") ? keys["matrix"] : file_.root());
    check_switch_sets();
    if (keys.count("quality") && !keys["quality"].IsNull()) read_quality(spec, keys["quality"]);
    if (keys.count("quality_model")) {
      if (!spec.quality.enabled)
        file_.fail_at(keys["quality_model"], "quality_model needs a quality: section to measure");
      spec.quality_model = read_model(spec, keys["quality_model"], "quality_model");
      for (const auto& v : spec.variants)
        if (!v.model.empty() && v.quality_model.empty())
          fail("{}: variant '{}' runs its own model, so quality_model does not say where its "
               "quality is measured: give it a quality_model too",
               v.where, v.name);
    }
    for (const auto& v : spec.variants)
      if (!v.quality_model.empty() && !spec.quality.enabled)
        fail("{}: variant '{}' has a quality_model but the experiment has no quality: section",
             v.where, v.name);
    if (keys.count("keep")) read_keep(spec, keys["keep"]);
    resolve_replays(spec);
    return spec;
  }

 private:
  fs::path resolve(const std::string& relative) const {
    fs::path p(relative);
    return p.is_absolute() ? p : root_ / p;
  }

  fs::path existing_file(const YAML::Node& node, std::string_view what) const {
    fs::path path = resolve(file_.text_value(node, what));
    if (!fs::is_regular_file(path))
      file_.fail_at(node, fmt::format("{} '{}' not found (looked for {})", what, node.Scalar(),
                                      path.string()));
    return path;
  }

  fs::path existing_model(const YAML::Node& node) const {
    fs::path path = resolve(file_.text_value(node, "model"));
    if (!fs::is_directory(path))
      file_.fail_at(node, fmt::format("model '{}' not found: no such directory {}", node.Scalar(),
                                      path.string()));
    return path;
  }

  // Prompts are stored as JSON (the plan, the database), which holds UTF-8 text only.
  void require_utf8(const YAML::Node& node, const fs::path& path, std::string_view text) const {
    if (auto at = invalid_utf8_at(text))
      file_.fail_at(node, fmt::format("{} is not UTF-8 text (byte 0x{:02X} at offset {})", path.string(),
                                      static_cast<unsigned char>(text[*at]), *at));
  }

  // A model as written anywhere in the file: a folder, {pack: {from, bits, lz4, group_size, resident_bits}}
  // or {synth: {like, layers, bits, resident_bits, seed, lz4}}, which name the folder the lab will
  // make (packed_model.h) and register the recipe.
  fs::path read_model(ExperimentSpec& spec, const YAML::Node& node, std::string_view what) {
    if (!node.IsMap()) return existing_model(node);
    auto keys = file_.keys(node, what, {"pack", "synth"});
    if (keys.size() != 1)
      file_.fail_at(node, fmt::format("{} must be a folder or {{pack: {{from: DIR, bits: 4}}}} or "
                                      "{{synth: {{like: CONFIG, layers: N, bits: 4}}}}",
                                      what));
    PackRecipe recipe = keys.count("pack") ? read_pack(keys["pack"]) : read_synth(keys["synth"]);
    recipe.folder = packed_folder(options_.packed_models_dir.value_or(root_ / "results/models"),
                                  recipe);
    auto same = [&](const PackRecipe& p) { return p.folder == recipe.folder; };
    if (std::none_of(spec.packs.begin(), spec.packs.end(), same)) spec.packs.push_back(recipe);
    return recipe.folder;
  }

  // A recipe's resident_bits: what `--resident-bits` takes (16 keeps the weights as they are).
  int resident_bits(const YAML::Node& node, const std::string& recipe) const {
    const int bits = static_cast<int>(file_.integer(node, recipe + ".resident_bits", 1, 64));
    if (bits != 16 && bits != 8 && bits != 4)
      file_.fail_at(node, fmt::format("{}.resident_bits must be 16, 8 or 4, got {}", recipe, bits));
    return bits;
  }

  PackRecipe read_pack(const YAML::Node& pack) {
    auto fields = file_.keys(pack, "pack", {"from", "bits", "lz4", "group_size", "resident_bits"});
    if (!fields.count("from")) file_.fail_at(pack, "pack needs 'from: <checkpoint folder>'");
    PackRecipe recipe;
    recipe.where = file_.where(pack);
    recipe.source = existing_model(fields["from"]);
    if (fields.count("bits")) {
      recipe.bits = static_cast<int>(file_.integer(fields["bits"], "pack.bits", 2, 4));
      if (recipe.bits == 3) file_.fail_at(fields["bits"], "pack.bits must be 2 or 4, got 3");
    }
    if (fields.count("lz4")) recipe.lz4 = file_.boolean(fields["lz4"], "pack.lz4");
    if (fields.count("group_size"))
      recipe.group_size =
          static_cast<int>(file_.integer(fields["group_size"], "pack.group_size", 1, 1 << 20));
    if (fields.count("resident_bits")) recipe.resident_bits = resident_bits(fields["resident_bits"], "pack");
    return recipe;
  }

  PackRecipe read_synth(const YAML::Node& synth) {
    auto fields = file_.keys(synth, "synth", {"like", "layers", "bits", "resident_bits", "seed", "lz4"});
    if (!fields.count("like"))
      file_.fail_at(synth, "synth needs 'like: <config.json whose shapes to copy>'");
    PackRecipe recipe;
    recipe.kind = RecipeKind::kSynth;
    recipe.where = file_.where(synth);
    recipe.source = existing_file(fields["like"], "synth.like");
    if (fields.count("layers"))
      recipe.layers = static_cast<int>(file_.integer(fields["layers"], "synth.layers", 1, 100000));
    if (fields.count("bits")) {
      recipe.bits = static_cast<int>(file_.integer(fields["bits"], "synth.bits", 2, 4));
      if (recipe.bits == 3) file_.fail_at(fields["bits"], "synth.bits must be 2 or 4, got 3");
    }
    if (fields.count("seed"))
      recipe.seed = static_cast<uint64_t>(file_.integer(fields["seed"], "synth.seed", 0, INT64_MAX));
    if (fields.count("resident_bits")) recipe.resident_bits = resident_bits(fields["resident_bits"], "synth");
    if (fields.count("lz4")) recipe.lz4 = file_.boolean(fields["lz4"], "synth.lz4");
    return recipe;
  }

  BudgetShare read_budget_share(const YAML::Node& node) const {
    auto keys = file_.keys(node, "memory_budget", {"page_cache_share", "overhead"});
    if (!keys.count("page_cache_share"))
      file_.fail_at(node, "memory_budget is a size like 8GiB, or {page_cache_share: 0.17, overhead: "
                          "512MiB}: the model's resident weights + that share of its expert bytes + "
                          "the overhead");
    BudgetShare b;
    b.page_cache_share = file_.number(keys["page_cache_share"], "memory_budget.page_cache_share");
    if (!(b.page_cache_share >= 0 && b.page_cache_share <= 1))
      file_.fail_at(keys["page_cache_share"], "memory_budget.page_cache_share must be between 0 and 1");
    if (keys.count("overhead")) {
      const std::string text = file_.scalar(keys["overhead"], "memory_budget.overhead");
      auto bytes = parse_bytes(text);
      if (!bytes)
        file_.fail_at(keys["overhead"],
                      fmt::format("memory_budget.overhead must be a size like 512MiB, got '{}'", text));
      b.overhead_bytes = *bytes;
    }
    return b;
  }

  // `routing: {trace, layer_map, ...}`, as written; resolve_replays() checks it against the models.
  RoutingReplaySpec read_routing(const YAML::Node& node) {
    auto keys = file_.keys(node, "routing",
                           {"trace", "layer_map", "trace_model", "windows", "cycle_tokens",
                            "match_types", "predictor_trace"});
    RoutingReplaySpec r;
    r.where = file_.where(node);
    if (!keys.count("trace"))
      file_.fail_at(node, "routing needs 'trace: <a routing trace, --record-routing format>'");
    if (!keys.count("layer_map"))
      file_.fail_at(node, "routing needs 'layer_map: cycle | stretch | [one trace layer per model "
                          "MoE layer]'");
    r.trace = existing_file(keys["trace"], "routing.trace");
    r.where_trace = file_.where(keys["trace"]);
    const YAML::Node map = keys["layer_map"];
    r.where_map = file_.where(map);
    if (map.IsSequence()) {
      r.map.kind = LayerMapKind::kList;
      for (const auto& entry : map)
        r.map.list.push_back(file_.integer(entry, "a routing.layer_map entry", 0, 1 << 20));
      if (r.map.list.empty()) file_.fail_at(map, "routing.layer_map lists no layer");
    } else {
      const std::string kind = file_.scalar(map, "routing.layer_map");
      if (kind == "cycle") {
        r.map.kind = LayerMapKind::kCycle;
      } else if (kind == "stretch") {
        r.map.kind = LayerMapKind::kStretch;
      } else {
        file_.fail_at(map, fmt::format("routing.layer_map must be cycle, stretch or a list of trace "
                                       "layers, got '{}'", kind));
      }
    }
    if (keys.count("trace_model")) r.trace_model = existing_model(keys["trace_model"]);
    if (keys.count("windows"))
      r.windows = static_cast<int>(file_.integer(keys["windows"], "routing.windows", 1, 100000));
    if (keys.count("cycle_tokens")) r.cycle_tokens = file_.boolean(keys["cycle_tokens"], "routing.cycle_tokens");
    if (keys.count("match_types")) r.match_types = file_.boolean(keys["match_types"], "routing.match_types");
    if (keys.count("predictor_trace")) {
      // true: the oracle predictor knows the replay; a file: it knows that trace instead.
      const YAML::Node p = keys["predictor_trace"];
      const std::string text = file_.scalar(p, "routing.predictor_trace");
      if (text == "true" || text == "false" || text == "yes" || text == "no" || text == "on" || text == "off") {
        r.predictor_trace = file_.boolean(p, "routing.predictor_trace");
      } else {
        r.predictor_trace = true;
        r.predictor_source = existing_file(p, "routing.predictor_trace");
      }
    }
    return r;
  }

  // The shape of a run's model: read from the recipe when the lab makes the folder (it may not
  // exist yet), else from the folder's config.json.
  ModelShape shape_of(const ExperimentSpec& spec, const fs::path& model) const {
    for (const auto& p : spec.packs)
      if (p.folder == model)
        return p.kind == RecipeKind::kSynth ? read_model_shape(p.source, p.layers)
                                            : read_model_shape(p.source / "config.json");
    return read_model_shape(model / "config.json");
  }

  // For every variant with routing to replay: check the trace against each of its models (the
  // expert count, K, the tokens the runs feed), resolve the layer map, and name the derived
  // traces its runs will replay (one per window).
  void resolve_replays(ExperimentSpec& spec) {
    std::map<fs::path, TraceSummary> summaries;
    const fs::path models_dir = options_.packed_models_dir.value_or(root_ / "results/models");
    for (auto& v : spec.variants) {
      const RoutingReplaySpec* r = spec.routing_for(v);
      if (!r) continue;
      if (v.switches.count("replay-routing"))
        fail("{}: variant '{}' sets replay-routing, and routing: at {} replays a trace too; give one", v.where,
             v.name, r->where);
      if (r->predictor_trace && v.switches.count("predictor-trace"))
        fail("{}: variant '{}' sets predictor-trace, and routing: at {} has predictor_trace: true; give one",
             v.where, v.name, r->where);
      const TraceSummary& s = summary_of(summaries, r->trace, r->where_trace + ": routing.trace");
      fs::path trace_model = r->trace_model;
      if (trace_model.empty()) {
        trace_model = s.model.empty() ? fs::path() : resolve(s.model);
        if (s.model.empty() || !fs::is_regular_file(trace_model / "config.json"))
          fail("{}: routing.trace {}: its header names the model '{}', which is not a model folder here; "
               "name the model that recorded it with routing.trace_model (its layer types are needed)",
               r->where_trace, r->trace.string(), s.model);
      }
      ModelShape trace_shape;
      try {
        trace_shape = read_model_shape(trace_model / "config.json");
      } catch (const Error& e) {
        fail("{}: routing trace model: {}", r->where_trace, e.what());
      }
      if (trace_shape.layers != s.layers)
        fail("{}: routing.trace {} records {} layers, but its model {} has {}", r->where_trace,
             r->trace.string(), s.layers, trace_model.string(), trace_shape.layers);
      int64_t k = s.top_k;
      if (auto it = v.options.find("k"); it != v.options.end() && it->second != "0") k = std::stoll(it->second);
      if (k > s.top_k)
        fail("{}: variant '{}' routes to k {} experts, but routing.trace {} records only {} per token",
             v.where, v.name, k, r->trace.string(), s.top_k);
      const int64_t fed = spec.workload.max_fed_tokens();
      if (!r->cycle_tokens && fed * r->windows > s.tokens)
        fail("{}: routing.trace {} holds {} tokens, but the runs feed up to {} each (the prompt's {} + {} "
             "generated - 1){}: record a longer trace, shorten the workload, or set routing.cycle_tokens: true "
             "to replay the trace from its start again",
             r->where_trace, r->trace.string(), s.tokens, fed, fed - spec.workload.tokens + 1, spec.workload.tokens,
             r->windows > 1 ? fmt::format(", in {} windows", r->windows) : "");
      v.replay.assign(spec.models.size(), {});
      for (size_t m = 0; m < spec.models.size(); ++m) {
        const fs::path& model = spec.model_for(v, m);
        ModelShape shape;
        try {
          shape = shape_of(spec, model);
        } catch (const Error& e) {
          fail("{}: routing: the model's shape: {}", r->where, e.what());
        }
        if (s.experts != shape.experts)
          fail("{}: routing.trace {} routes over {} experts, the model ({}) has {}: replay needs the same "
               "expert count",
               r->where_trace, r->trace.string(), s.experts, shape.source, shape.experts);
        if (s.top_k != shape.top_k)
          fail("{}: routing.trace {} records top-{} routing, the model ({}) routes top-{}: K must match (a "
               "variant's k switch may then lower it)",
               r->where_trace, r->trace.string(), s.top_k, shape.source, shape.top_k);
        ReplayRecipe recipe;
        try {
          recipe.map = resolve_layer_map(r->map, shape, trace_shape, s.moe_layers, r->match_types);
        } catch (const Error& e) {
          fail("{}: routing.layer_map: {}", r->where_map, e.what());
        }
        recipe.source = r->trace;
        recipe.source_hash = s.content_hash;
        recipe.trace_model = model_path_label(trace_model);
        recipe.map_text = r->map.text();
        recipe.experts = s.experts;
        recipe.k = k;
        recipe.trace_top_k = s.top_k;
        recipe.trace_tokens = s.tokens;
        recipe.tokens = fed;
        recipe.cycle_tokens = r->cycle_tokens;
        recipe.where = r->where;
        add_windows(spec, *r, recipe, models_dir, v.replay[m]);
        if (!r->predictor_source.empty()) {
          // The predictor's trace: the same tokens through the same map, window for window.
          const TraceSummary& p = summary_of(summaries, r->predictor_source, r->where + ": routing.predictor_trace");
          if (p.experts != s.experts || p.top_k != s.top_k || p.layers != s.layers || p.tokens != s.tokens)
            fail("{}: routing.predictor_trace {} must record what routing.trace does ({} tokens, {} layers, "
                 "top-{} of {} experts); it has {} tokens, {} layers, top-{} of {}",
                 r->where, r->predictor_source.string(), s.tokens, s.layers, s.top_k, s.experts, p.tokens,
                 p.layers, p.top_k, p.experts);
          ReplayRecipe predictor = recipe;
          predictor.source = r->predictor_source;
          predictor.source_hash = p.content_hash;
          v.predictor_replay.resize(spec.models.size());
          add_windows(spec, *r, predictor, models_dir, v.predictor_replay[m]);
        }
      }
    }
  }

  // One derived trace per window of `recipe` (consecutive token ranges), each listed once in
  // spec.replays and in order in `files`.
  static void add_windows(ExperimentSpec& spec, const RoutingReplaySpec& r, ReplayRecipe recipe,
                          const fs::path& models_dir, std::vector<fs::path>& files) {
    for (int w = 0; w < r.windows; ++w) {
      recipe.first_token = (recipe.tokens * w) % recipe.trace_tokens;
      recipe.file = replay_file(models_dir, recipe);
      auto same = [&](const ReplayRecipe& e) { return e.file == recipe.file; };
      if (std::none_of(spec.replays.begin(), spec.replays.end(), same)) spec.replays.push_back(recipe);
      files.push_back(recipe.file);
    }
  }

  // The summary of a trace, read once per experiment; `what` prefixes its error.
  const TraceSummary& summary_of(std::map<fs::path, TraceSummary>& summaries, const fs::path& trace,
                                 const std::string& what) {
    if (!summaries.count(trace)) {
      try {
        summaries[trace] = read_trace_summary(trace);
      } catch (const Error& e) {
        fail("{}: {}", what, e.what());
      }
    }
    return summaries[trace];
  }

  // A folder as the plan names it: relative to the project root when inside it.
  std::string model_path_label(const fs::path& path) const {
    fs::path relative = path.lexically_normal().lexically_relative(root_.lexically_normal());
    return !relative.empty() && *relative.begin() != ".." ? relative.string() : path.lexically_normal().string();
  }

  void read_models(ExperimentSpec& spec, std::map<std::string, YAML::Node>& keys) {
    if (keys.count("model") && keys.count("models"))
      file_.fail_at(keys["models"], "give either 'model' or 'models', not both");
    if (keys.count("model")) {
      spec.models.push_back(read_model(spec, keys["model"], "model"));
    } else if (keys.count("models")) {
      file_.require_sequence(keys["models"], "models");
      for (const auto& m : keys["models"]) spec.models.push_back(read_model(spec, m, "models"));
      if (spec.models.empty()) file_.fail_at(keys["models"], "models must list at least one model");
    } else {
      file_.fail_at(file_.root(), "missing key 'model' (or 'models')");
    }
  }

  static std::vector<std::string> read_lines(const fs::path& path) {
    std::ifstream in(path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!line.empty()) lines.push_back(line);
    }
    return lines;
  }

  void read_workload(ExperimentSpec& spec, const YAML::Node& node) {
    auto keys = file_.keys(node, "workload",
                           {"prompt", "prompts", "text_file", "ids", "prefill", "tokens", "ignore_eos"});
    int sources = static_cast<int>(keys.count("prompt") + keys.count("prompts") +
                                   keys.count("text_file") + keys.count("ids"));
    if (sources != 1)
      file_.fail_at(node, "workload needs exactly one of prompt, prompts (a file, one prompt per "
                          "line), text_file or ids (token ids)");
    Workload& w = spec.workload;
    if (keys.count("tokens"))
      w.tokens = static_cast<int>(file_.integer(keys["tokens"], "workload.tokens", 1, 1 << 20));
    if (keys.count("ignore_eos")) w.ignore_eos = file_.boolean(keys["ignore_eos"], "workload.ignore_eos");
    if (keys.count("prefill")) {
      if (!keys.count("text_file"))
        file_.fail_at(keys["prefill"], "workload.prefill applies to text_file only");
      w.prefill = static_cast<int>(file_.integer(keys["prefill"], "workload.prefill", 1, 1 << 24));
    }
    if (keys.count("ids")) {
      w.prompts = {read_ids(keys["ids"], "workload.ids")};
      w.token_ids = true;
      w.source = "ids";
    } else if (keys.count("prompt")) {
      w.prompts = {file_.text_value(keys["prompt"], "workload.prompt")};
      w.source = "prompt";
    } else if (keys.count("prompts")) {
      fs::path path = existing_file(keys["prompts"], "workload.prompts file");
      w.prompts = read_lines(path);
      for (const std::string& prompt : w.prompts) require_utf8(keys["prompts"], path, prompt);
      w.source = path.string();
      if (w.prompts.empty()) file_.fail_at(keys["prompts"], "workload.prompts file has no prompts");
    } else {
      fs::path path = existing_file(keys["text_file"], "workload.text_file");
      std::ifstream in(path);
      std::stringstream text;
      text << in.rdbuf();
      std::string prompt = text.str();
      require_utf8(keys["text_file"], path, prompt);
      if (w.prefill > 0) {
        // Words stand in for tokens: the lab does not tokenize; the engine reports the
        // actual prompt_tokens of every run.
        std::istringstream words(prompt);
        std::string word, cut;
        for (int i = 0; i < w.prefill && words >> word; ++i) cut += (i ? " " : "") + word;
        prompt = cut;
      }
      if (prompt.empty()) file_.fail_at(keys["text_file"], "workload.text_file is empty");
      w.prompts = {prompt};
      w.source = path.string();
    }
  }

  // Token ids as a YAML list [1, 2, 3] or a string "1,2,3"; returned as "1,2,3".
  std::string read_ids(const YAML::Node& node, std::string_view what) const {
    std::vector<YAML::Node> items;
    if (node.IsSequence()) {
      for (const auto& item : node) items.push_back(item);
    } else {
      std::string text = file_.text_value(node, what);
      std::string joined;
      std::stringstream parts(text);
      for (std::string part; std::getline(parts, part, ',');) {
        part.erase(std::remove_if(part.begin(), part.end(), [](unsigned char c) { return std::isspace(c); }),
                   part.end());
        if (part.empty() || part.find_first_not_of("0123456789") != std::string::npos)
          file_.fail_at(node, fmt::format("{} must be token ids like 1,2,3, got '{}'", what, text));
        joined += (joined.empty() ? "" : ",") + part;
      }
      return joined;
    }
    std::string joined;
    for (const auto& item : items)
      joined += (joined.empty() ? "" : ",") +
                std::to_string(file_.integer(item, fmt::format("a token id in {}", what), 0, 1 << 30));
    if (joined.empty()) file_.fail_at(node, fmt::format("{} must list at least one token id", what));
    return joined;
  }

  void check_name(const YAML::Node& node, const std::string& name) const {
    static const std::regex allowed(R"([A-Za-z0-9][A-Za-z0-9._+=,:-]*)");
    if (!std::regex_match(name, allowed))
      file_.fail_at(node, fmt::format("variant name '{}' may use letters, digits and ._+=,:- only",
                                      name));
  }

  // Errors point at `node`, the variant's entry, or for its switches at `switches_node`.
  void add_variant(ExperimentSpec& spec, Variant variant, const YAML::Node& node,
                   const YAML::Node& switches_node) {
    // The engine judges the switches the runs will get: with routing's predictor_trace, the lab
    // adds --predictor-trace (the derived trace; the recorded one stands in for it here).
    std::map<std::string, std::string> checked = variant.switches;
    if (const RoutingReplaySpec* r = spec.routing_for(variant); r && r->predictor_trace)
      checked.emplace("predictor-trace", r->trace.string());
    if (!checked.empty()) to_check_.push_back({variant.name, checked, switches_node});
    variant.options = options_.catalog->defaults();
    for (const auto& [name, value] : variant.switches) variant.options[name] = value;
    for (const auto& existing : spec.variants)
      if (existing.name == variant.name)
        file_.fail_at(node, fmt::format("variant '{}' is defined twice (first at {})",
                                        variant.name, existing.where));
    spec.variants.push_back(std::move(variant));
  }

  void read_variants(ExperimentSpec& spec, const YAML::Node& node) {
    file_.require_sequence(node, "variants");
    fs::path variants_dir = root_ / "variants";
    for (const auto& entry : node) {
      Variant v;
      v.where = file_.where(entry);
      if (entry.IsScalar()) {
        v.name = entry.Scalar();
        check_name(entry, v.name);
        v.origin = "bundle";
        v.bundle = v.name;
        VariantBundle bundle = load_bundle_at(entry, variants_dir, v.bundle);
        v.description = bundle.description;
        v.switches = bundle.switches;
        v.build_options = bundle.build_options;
      } else {
        auto keys = file_.keys(entry, "a variant",
                               {"name", "description", "bundle", "switches", "build", "model",
                                "quality_model", "routing"});
        if (!keys.count("name")) file_.fail_at(entry, "a variant needs a 'name'");
        v.name = file_.text_value(keys["name"], "variant name");
        check_name(keys["name"], v.name);
        v.origin = "inline";
        if (keys.count("bundle")) {
          v.origin = "bundle";
          v.bundle = file_.text_value(keys["bundle"], "bundle");
          VariantBundle bundle = load_bundle_at(keys["bundle"], variants_dir, v.bundle);
          v.description = bundle.description;
          v.switches = bundle.switches;
          v.build_options = bundle.build_options;
        }
        if (keys.count("description")) v.description = file_.scalar(keys["description"], "description");
        if (keys.count("switches"))
          for (auto& [name, value] :
               read_switches(file_, keys["switches"], *options_.catalog, "switches"))
            v.switches[name] = value;  // inline switches override the bundle's
        if (keys.count("build"))
          for (auto& [name, value] : read_build_options(file_, keys["build"], build_option_names_))
            v.build_options[name] = value;  // inline options override the bundle's
        if (keys.count("model")) {
          if (spec.models.size() != 1)
            file_.fail_at(keys["model"], fmt::format("a variant's model replaces the experiment's "
                                                     "one model, but the experiment has {} models; "
                                                     "give each model its own experiment",
                                                     spec.models.size()));
          v.model = read_model(spec, keys["model"], "variant model");
        }
        if (keys.count("quality_model"))
          v.quality_model = read_model(spec, keys["quality_model"], "variant quality_model");
        if (keys.count("routing")) v.routing = read_routing(keys["routing"]);
      }
      add_variant(spec, std::move(v), entry, entry.IsMap() && entry["switches"] ? entry["switches"] : entry);
    }
    if (spec.variants.empty()) file_.fail_at(node, "variants must list at least the baseline");
  }

  VariantBundle load_bundle_at(const YAML::Node& node, const fs::path& dir,
                               const std::string& name) {
    std::error_code ec;  // a name too long for the file system is just not a bundle
    if (!fs::exists(dir / (name + ".yaml"), ec))
      file_.fail_at(node, fmt::format("no variant bundle '{}' (looked for {})", name,
                                      (dir / (name + ".yaml")).string()));
    return load_bundle(dir, name, *options_.catalog, build_option_names_);
  }

  void read_matrix(ExperimentSpec& spec, const YAML::Node& node) {
    if (node.IsSequence()) {
      for (const auto& sweep : node) read_sweep(spec, sweep);
    } else {
      read_sweep(spec, node);
    }
  }

  // Runs = variants x models x repeats must stay within the cap; checked with the count a
  // matrix would expand to before it is expanded, so a huge one fails fast and small.
  void check_run_count(const ExperimentSpec& spec, double variants, const YAML::Node& where) const {
    double runs = variants * static_cast<double>(spec.models.size()) *
                  std::max(spec.repeats, spec.max_repeats);
    if (runs <= static_cast<double>(spec.max_runs)) return;
    file_.fail_at(where, fmt::format("this experiment plans {:.0f} runs ({:.0f} variants x {} "
                                     "model{} x {} repeats), more than the cap of {}; shrink the "
                                     "matrix or the repeats, or raise the cap with 'max_runs: "
                                     "{:.0f}' in the file or --max-runs {:.0f}",
                                     runs, variants, spec.models.size(),
                                     spec.models.size() == 1 ? "" : "s", spec.repeats, spec.max_runs,
                                     runs, runs));
  }

  // One sweep: the cartesian product of the listed switch values, each applied on top of the
  // base variant (default: the baseline).
  void read_sweep(ExperimentSpec& spec, const YAML::Node& node) {
    auto keys = file_.keys(node, "matrix", {"base", "switches"});
    if (!keys.count("switches")) file_.fail_at(node, "matrix needs 'switches: {name: [values]}'");
    const Variant* base = &spec.variants.front();  // the baseline, rotated first
    if (keys.count("base")) {
      std::string base_name = file_.text_value(keys["base"], "matrix.base");
      auto it = std::find_if(spec.variants.begin(), spec.variants.end(),
                             [&](const Variant& v) { return v.name == base_name; });
      if (it == spec.variants.end())
        file_.fail_at(keys["base"], fmt::format("matrix.base '{}' is not one of the variants",
                                                base_name));
      base = &*it;
    }
    Variant base_copy = *base;  // spec.variants grows below
    const YAML::Node sweep = keys["switches"];
    file_.require_map(sweep, "matrix.switches");
    std::vector<std::pair<std::string, std::vector<std::string>>> axes;
    for (const auto& entry : sweep) {
      const YAML::Node name_node = entry.first;
      const YAML::Node values_node = entry.second;
      std::string name = file_.scalar(name_node, "a matrix switch");
      const SwitchInfo* info = options_.catalog->find(name);
      if (!info)
        file_.fail_at(name_node, fmt::format("unknown switch '{}' (the engine has: {})", name,
                                             options_.catalog->names()));
      std::vector<std::string> values;
      auto check = [&](const YAML::Node& value) {
        std::string problem;
        auto normalized = options_.catalog->normalize(*info, file_.scalar(value, name), problem);
        if (!normalized) file_.fail_at(value, problem);
        values.push_back(*normalized);
      };
      if (values_node.IsSequence()) {
        for (const auto& value : values_node) check(value);
      } else {
        check(values_node);
      }
      if (values.empty())
        file_.fail_at(values_node, fmt::format("matrix switch {} has no values", name));
      axes.emplace_back(info->name, std::move(values));
    }
    double expanded = 1;
    for (const auto& axis : axes) expanded *= static_cast<double>(axis.second.size());
    check_run_count(spec, static_cast<double>(spec.variants.size()) + expanded, node);
    // Odometer over the axes, the last axis fastest: k=2,io=pread; k=2,io=mmap; k=4,...
    std::vector<size_t> index(axes.size(), 0);
    while (true) {
      Variant v = base_copy;
      v.origin = "matrix";
      v.where = file_.where(node);
      std::string suffix;
      for (size_t a = 0; a < axes.size(); ++a) {
        v.switches[axes[a].first] = axes[a].second[index[a]];
        suffix += fmt::format("{}{}={}", a ? "," : "", axes[a].first, axes[a].second[index[a]]);
      }
      v.name = base_copy.name == spec.baseline ? suffix : base_copy.name + "+" + suffix;
      v.description = fmt::format("{} on top of {}", suffix, base_copy.name);
      add_variant(spec, std::move(v), node, node);
      size_t a = axes.size();
      while (a > 0 && ++index[a - 1] == axes[a - 1].second.size()) index[--a] = 0;
      if (a == 0) break;
    }
  }

  void read_quality(ExperimentSpec& spec, const YAML::Node& node) {
    auto keys = file_.keys(node, "quality",
                           {"text_file", "ids", "max_tokens", "reference_model", "reference_switches",
                            "json_prompts", "json_tokens", "json_limit"});
    QualitySpec& q = spec.quality;
    q.enabled = true;
    if (keys.count("text_file") && keys.count("ids"))
      file_.fail_at(keys["ids"], "quality takes text_file or ids, not both");
    if (keys.count("text_file")) q.text_file = existing_file(keys["text_file"], "quality.text_file");
    if (keys.count("ids")) q.ids = read_ids(keys["ids"], "quality.ids");
    if (keys.count("max_tokens"))
      q.max_tokens = static_cast<int>(file_.integer(keys["max_tokens"], "quality.max_tokens", 2,
                                                    1 << 24));
    if (keys.count("reference_model"))
      q.reference_model = read_model(spec, keys["reference_model"], "quality.reference_model");
    if (keys.count("reference_switches"))
      q.reference_switches = read_switches(file_, keys["reference_switches"], *options_.catalog,
                                           "quality.reference_switches");
    if (keys.count("json_prompts"))
      q.json_prompts = existing_file(keys["json_prompts"], "quality.json_prompts");
    if (keys.count("json_tokens"))
      q.json_tokens = static_cast<int>(file_.integer(keys["json_tokens"], "quality.json_tokens", 1,
                                                     1 << 20));
    if (keys.count("json_limit"))
      q.json_limit = static_cast<int>(file_.integer(keys["json_limit"], "quality.json_limit", 0,
                                                    1 << 20));
    if (q.text_file.empty() && q.ids.empty() && q.json_prompts.empty())
      file_.fail_at(node, "quality needs text_file or ids (KL divergence, perplexity) and/or "
                          "json_prompts");
  }

  void read_keep(ExperimentSpec& spec, const YAML::Node& node) {
    auto keys = file_.keys(node, "keep",
                           {"metric", "direction", "min_runs", "paired", "min_speedup",
                            "confidence", "max_kld_mean", "max_kld_p99", "min_top1_agree",
                            "max_ppl_ratio", "min_json_validity", "max_json_validity_drop"});
    KeepRule& k = spec.keep;
    if (keys.count("metric")) {
      k.metric = file_.text_value(keys["metric"], "keep.metric");
      auto names = keep_metrics();
      if (std::find(names.begin(), names.end(), k.metric) == names.end())
        file_.fail_at(keys["metric"], fmt::format("keep.metric '{}' is not a recorded metric (one "
                                                  "of: {})", k.metric, fmt::join(names, ", ")));
    }
    k.higher_is_better = higher_is_better(k.metric);
    if (keys.count("direction")) {
      std::string direction = file_.scalar(keys["direction"], "keep.direction");
      if (direction != "higher" && direction != "lower")
        file_.fail_at(keys["direction"],
                      fmt::format("keep.direction must be higher or lower, got '{}'", direction));
      k.higher_is_better = direction == "higher";
    }
    if (keys.count("min_runs"))
      k.min_runs = static_cast<int>(file_.integer(keys["min_runs"], "keep.min_runs", 1, 100000));
    if (keys.count("paired")) k.paired = file_.boolean(keys["paired"], "keep.paired");
    auto number = [&](const char* key) -> std::optional<double> {
      if (!keys.count(key)) return std::nullopt;
      double v = file_.number(keys[key], fmt::format("keep.{}", key));
      if (!(v >= 0)) file_.fail_at(keys[key], fmt::format("keep.{} must not be negative", key));
      return v;
    };
    if (auto v = number("min_speedup")) {
      if (*v <= 0) file_.fail_at(keys["min_speedup"], "keep.min_speedup must be positive");
      k.min_speedup = *v;
    }
    if (auto v = number("confidence")) {
      if (!(*v > 0.5 && *v < 1))
        file_.fail_at(keys["confidence"], "keep.confidence must be between 0.5 and 1");
      k.confidence = *v;
    }
    k.max_kld_mean = number("max_kld_mean");
    k.max_kld_p99 = number("max_kld_p99");
    k.min_top1_agree = number("min_top1_agree");
    k.max_ppl_ratio = number("max_ppl_ratio");
    k.min_json_validity = number("min_json_validity");
    k.max_json_validity_drop = number("max_json_validity_drop");
  }

  // Every variant's switches, judged by the engine in one call; the first refused set fails at
  // its line.
  void check_switch_sets() const {
    if (!options_.check_switches || to_check_.empty()) return;
    std::vector<std::map<std::string, std::string>> sets;
    for (const auto& c : to_check_) sets.push_back(c.switches);
    const std::vector<std::optional<std::string>> problems = options_.check_switches(sets);
    for (size_t i = 0; i < to_check_.size() && i < problems.size(); ++i)
      if (problems[i])
        file_.fail_at(to_check_[i].node, fmt::format("variant '{}': {}", to_check_[i].name, *problems[i]));
  }

  struct SwitchSet {
    std::string name;
    std::map<std::string, std::string> switches;
    YAML::Node node;
  };
  std::vector<SwitchSet> to_check_;
  YamlFile file_;
  const SpecOptions& options_;
  fs::path root_;
  std::vector<std::string> build_option_names_;
};

}  // namespace

ExperimentSpec load_experiment(const fs::path& file, const SpecOptions& options) {
  return SpecReader(YamlFile::load(file), options).read();
}

ExperimentSpec load_experiment_text(const std::string& yaml, const fs::path& file,
                                    const SpecOptions& options) {
  return SpecReader(YamlFile::parse(yaml, file), options).read();
}

}  // namespace streammoe::lab
