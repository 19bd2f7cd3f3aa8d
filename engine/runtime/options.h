#pragma once
// EngineOptions: every runtime switch of the engine, each declared ONCE in visit() with its name,
// help and valid values. Command-line flags, variant files, `streammoe options --json` and the
// options block of every result are all derived from that one declaration.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace streammoe {

struct EngineOptions {
  int64_t k = 0;                 // top-K override; 0 keeps the model's
  int64_t threads = 1;           // compute threads
  std::string dequant = "fma";   // naive | fma (packed models)
  std::string record_routing;    // file to write the routing trace to
  std::string replay_routing;    // routing trace to follow instead of the routers
  std::string expert_stats;      // file to write per-(layer, expert) activation statistics to

  // Calls v.option(name, field, help, valid_values) for every switch, in display order.
  template <typename Visitor>
  void visit(Visitor&& v) {
    v.option("k", k, "routed experts per token (top-K); 0 keeps the model's value", {});
    v.option("threads", threads, "compute threads", {});
    v.option("dequant", dequant, "dequantisation formulation of packed experts", {"naive", "fma"});
    v.option("record-routing", record_routing, "write the routing trace (token, layer, experts, weights) to FILE", {});
    v.option("replay-routing", replay_routing, "follow the routing trace in FILE instead of the routers", {});
    v.option("expert-stats", expert_stats, "write per-(layer, expert) activation counts and reuse statistics to FILE", {});
  }

  // Sets a switch from its string form; Error listing the valid values on a bad one.
  void set(const std::string& name, const std::string& value);
  // Applies a variant: a name under variants/ (variants/<name>.yaml) or a YAML file path.
  void apply_variant(const std::string& name_or_file, const std::filesystem::path& variants_dir);
  nlohmann::json to_json() const;
  // [{name, type, default, values, help}], what `streammoe options --json` prints.
  static nlohmann::json describe();
};

}  // namespace streammoe
