#pragma once
// Packed models as derived data. An experiment (or one variant, or the quality reference) may
// name a model as `{pack: {from: DIR, bits: 4, lz4: true}}` instead of a folder; the lab then
// runs `streammoe pack` once into <root>/results/models/<name>/ and reuses that folder while its
// stamp (recipe + the source's file names, sizes and mtimes) still matches. Packed folders are
// never committed: deleting results/models/ only costs a re-pack.
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "harness/executor.h"

namespace streammoe::lab {

struct PackRecipe {
  std::filesystem::path source;  // a Hugging Face or MLX checkpoint folder
  int bits = 4;                  // 2 or 4
  bool lz4 = false;              // also write the LZ4 expert files (--expert-cache lz4)
  int group_size = 0;            // 0: the packer's default
  std::filesystem::path folder;  // where the packed model lives (packed_folder())
  std::string where;             // file:line:column of its definition

  // "models/x packed to 4 bits + lz4"; the source shown as `source_label` when given.
  std::string describe(const std::string& source_label = {}) const;
  nlohmann::json to_json() const;
};

// The stamp file the lab writes into a folder it packed; a folder without it (an interrupted
// pack) or with a different one (the source or recipe changed) is packed again.
inline constexpr const char* kPackStampFile = "lab-pack.json";

// <models_dir>/<source folder name>-q<bits>[-g<group>][-lz4]-<hash of source path and recipe>:
// readable, and distinct for distinct sources that share a folder name.
std::filesystem::path packed_folder(const std::filesystem::path& models_dir,
                                    const PackRecipe& recipe);

// The files of a checkpoint folder (relative names, sizes, mtimes) as a hash: what decides
// whether a packed folder is still current.
std::string source_fingerprint(const std::filesystem::path& folder);

struct PreparedModel {
  PackRecipe recipe;
  bool reused = false;  // the folder was current; nothing was run
  double seconds = 0;   // time spent packing
  nlohmann::json stamp;  // what the folder's stamp records (provenance for the database)
};

// Makes recipe.folder unless it is current: runs `<engine> pack --hf SOURCE --out TMP --bits B
// [--lz4] [--group-size G]` into a scratch folder beside it and renames that into place, so an
// interrupted pack never leaves a folder that looks finished. Error naming the recipe's
// file:line when the pack fails.
PreparedModel prepare_packed_model(const PackRecipe& recipe, const std::filesystem::path& engine,
                                   Executor& executor, double timeout_s = 3600);

}  // namespace streammoe::lab
