#include "harness/packed_model.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "engine/util/error.h"
#include "harness/hash.h"
#include "harness/scratch_file.h"
#include "harness/store.h"

namespace streammoe::lab {

namespace fs = std::filesystem;

std::string PackRecipe::describe(const std::string& source_label) const {
  if (kind == RecipeKind::kSynth)
    return fmt::format("synth like {}, {} layers, {}-bit experts{}, seed {}{}",
                       source_label.empty() ? source.string() : source_label,
                       layers ? std::to_string(layers) : std::string("all"), bits,
                       resident_bits != 16 ? fmt::format(", {}-bit resident weights", resident_bits)
                                           : "",
                       seed, lz4 ? " + lz4" : "");
  return fmt::format("{} packed to {} bits{}{}{}", source_label.empty() ? source.string() : source_label,
                     bits, group_size ? fmt::format(", group {}", group_size) : "",
                     resident_bits != 16 ? fmt::format(", {}-bit resident weights", resident_bits) : "",
                     lz4 ? " + lz4" : "");
}

nlohmann::json PackRecipe::to_json() const {
  if (kind == RecipeKind::kSynth) {
    nlohmann::json j = {{"kind", "synth"},  {"from", source.string()}, {"bits", bits},
                        {"layers", layers}, {"seed", seed},            {"resident_bits", resident_bits},
                        {"folder", folder.string()}};
    if (lz4) j["lz4"] = true;  // absent when off: the stamps of synth folders made before stay current
    return j;
  }
  nlohmann::json j = {{"from", source.string()},
                      {"bits", bits},
                      {"lz4", lz4},
                      {"group_size", group_size},
                      {"folder", folder.string()}};
  if (resident_bits != 16) j["resident_bits"] = resident_bits;  // absent at 16: older stamps stay current
  return j;
}

fs::path packed_folder(const fs::path& models_dir, const PackRecipe& recipe) {
  if (recipe.kind == RecipeKind::kSynth) {
    std::string hash = StableHash()
                           .add(recipe.source.lexically_normal().string())
                           .add(fmt::format("synth {} {} {} {}{}", recipe.layers, recipe.bits,
                                            recipe.seed, recipe.resident_bits, recipe.lz4 ? " lz4" : ""))
                           .hex()
                           .substr(0, 8);
    return models_dir / fmt::format("{}-synth-l{}-q{}{}-s{}{}-{}", recipe.source.stem().string(),
                                    recipe.layers, recipe.bits,
                                    recipe.resident_bits != 16
                                        ? fmt::format("-r{}", recipe.resident_bits)
                                        : "",
                                    recipe.seed, recipe.lz4 ? "-lz4" : "", hash);
  }
  StableHash pack_hash;
  pack_hash.add(recipe.source.lexically_normal().string())
      .add(std::to_string(recipe.bits))
      .add(recipe.lz4 ? "lz4" : "")
      .add(std::to_string(recipe.group_size));
  // Only when not 16: the folders of packs made before resident bits keep their names.
  if (recipe.resident_bits != 16) pack_hash.add(fmt::format("r{}", recipe.resident_bits));
  std::string hash = pack_hash.hex().substr(0, 8);
  std::string name = recipe.source.lexically_normal().filename().string();
  if (name.empty()) name = recipe.source.lexically_normal().parent_path().filename().string();
  return models_dir / fmt::format("{}-q{}{}{}{}-{}", name, recipe.bits,
                                  recipe.group_size ? fmt::format("-g{}", recipe.group_size) : "",
                                  recipe.resident_bits != 16 ? fmt::format("-r{}", recipe.resident_bits) : "",
                                  recipe.lz4 ? "-lz4" : "", hash);
}

std::string source_fingerprint(const fs::path& folder) {
  std::vector<fs::path> files;
  std::error_code ec;
  if (fs::is_regular_file(folder, ec))
    return StableHash()
        .add(folder.filename().string())
        .add(std::to_string(fs::file_size(folder, ec)))
        .add(std::to_string(fs::last_write_time(folder, ec).time_since_epoch().count()))
        .hex();
  for (auto it = fs::recursive_directory_iterator(folder, ec); !ec && it != fs::end(it);
       it.increment(ec))
    if (it->is_regular_file(ec)) files.push_back(it->path());
  std::sort(files.begin(), files.end());
  StableHash hash;
  for (const auto& f : files)
    hash.add(f.lexically_relative(folder).string())
        .add(std::to_string(fs::file_size(f, ec)))
        .add(std::to_string(fs::last_write_time(f, ec).time_since_epoch().count()));
  return hash.hex();
}

namespace {

nlohmann::json read_stamp(const fs::path& folder) {
  std::ifstream in(folder / kPackStampFile);
  if (!in) return nullptr;
  std::stringstream text;
  text << in.rdbuf();
  try {
    return nlohmann::json::parse(text.str());
  } catch (const std::exception&) {
    return nullptr;  // unreadable: treated as stale
  }
}

// The stamp fields that must match for a folder to be reused.
bool is_current(const nlohmann::json& stamp, const nlohmann::json& wanted) {
  if (!stamp.is_object()) return false;
  for (auto it = wanted.begin(); it != wanted.end(); ++it)
    if (!stamp.contains(it.key()) || stamp[it.key()] != it.value()) return false;
  return true;
}

// Folders in results/models/ are derived data: keep git from offering them for a commit.
void ignore_in_git(const fs::path& models_dir) {
  fs::path ignore = models_dir / ".gitignore";
  if (!fs::exists(ignore)) std::ofstream(ignore) << "# packed models made by streammoe-lab\n*\n";
}

}  // namespace

PreparedModel prepare_packed_model(const PackRecipe& recipe, const fs::path& engine,
                                   Executor& executor, double timeout_s) {
  PreparedModel prepared;
  prepared.recipe = recipe;
  const bool synth = recipe.kind == RecipeKind::kSynth;
  if (synth ? !fs::is_regular_file(recipe.source) : !fs::is_directory(recipe.source))
    fail("{}: {} '{}' is not a {}", recipe.where, synth ? "synth config" : "pack source",
         recipe.source.string(), synth ? "file" : "folder");
  nlohmann::json wanted = recipe.to_json();
  wanted.erase("folder");
  wanted["source_fingerprint"] = source_fingerprint(recipe.source);

  nlohmann::json stamp = read_stamp(recipe.folder);
  if (is_current(stamp, wanted)) {
    prepared.reused = true;
    prepared.stamp = stamp;
    return prepared;
  }

  fs::create_directories(recipe.folder.parent_path());
  ignore_in_git(recipe.folder.parent_path());
  remove_leftovers(recipe.folder.parent_path(), "packing");  // of a lab killed while it packed
  fs::path scratch = recipe.folder;
  scratch += fmt::format(".packing-{}", getpid());
  std::error_code ec;
  fs::remove_all(scratch, ec);
  Command command;
  command.argv = {engine.string(), "pack",  "--hf",   recipe.source.string(),
                  "--out",         scratch.string(), "--bits", std::to_string(recipe.bits)};
  if (synth)
    command.argv = {engine.string(), "synth",  "--like", recipe.source.string(),
                    "--layers",      std::to_string(recipe.layers), "--bits",
                    std::to_string(recipe.bits), "--seed", std::to_string(recipe.seed),
                    "--out", scratch.string()};
  if (recipe.resident_bits != 16) {
    command.argv.push_back("--resident-bits");
    command.argv.push_back(std::to_string(recipe.resident_bits));
  }
  if (recipe.group_size) {
    command.argv.push_back("--group-size");
    command.argv.push_back(std::to_string(recipe.group_size));
  }
  if (recipe.lz4) command.argv.push_back("--lz4");
  command.timeout_s = timeout_s;
  ExecResult result = executor.execute(command);
  if (!result.ok()) {
    fs::remove_all(scratch, ec);
    std::string tail = result.stderr_tail.empty() ? result.error : result.stderr_tail;
    while (!tail.empty() && (tail.back() == '\n' || tail.back() == '\r')) tail.pop_back();
    fail("{}: {} {} failed ({}): `{}`{}", recipe.where, synth ? "making" : "packing",
         recipe.describe(), describe(result),
         shell_join(command.argv), tail.empty() ? "" : ": " + tail.substr(tail.rfind('\n') + 1));
  }
  if (!fs::is_directory(scratch))
    fail("{}: `{}` succeeded but wrote no folder {}", recipe.where, shell_join(command.argv),
         scratch.string());

  stamp = wanted;
  stamp["folder"] = recipe.folder.string();
  stamp["command"] = shell_join(command.argv);
  stamp["packed_at"] = now_iso8601();
  stamp["pack_seconds"] = result.wall_ms / 1000.0;
  std::ofstream(scratch / kPackStampFile) << stamp.dump(2) << "\n";
  fs::remove_all(recipe.folder, ec);  // a stale or half-written one
  fs::rename(scratch, recipe.folder, ec);
  if (ec) {
    fs::remove_all(scratch, ec);
    fail("{}: cannot move the packed model into {}: {}", recipe.where, recipe.folder.string(),
         ec.message());
  }
  prepared.seconds = result.wall_ms / 1000.0;
  prepared.stamp = stamp;
  return prepared;
}

}  // namespace streammoe::lab
