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

// A derived model: `{pack: {from, bits, lz4, group_size, resident_bits}}` packs a checkpoint, `{synth: {like,
// layers, bits, resident_bits, seed, lz4}}` writes a random-weight model at a real model's shapes
// (`streammoe synth`); both are made once into the models folder and reused while current.
enum class RecipeKind { kPack, kSynth };

struct PackRecipe {
  RecipeKind kind = RecipeKind::kPack;
  // pack: a Hugging Face or MLX checkpoint folder; synth: the config.json whose shapes it copies.
  std::filesystem::path source;
  int bits = 4;                  // 2 or 4
  bool lz4 = false;              // also write the LZ4 expert files (--expert-cache lz4)
  int group_size = 0;            // pack: 0 = the packer's default
  int layers = 0;                // synth: 0 = as many as the config has
  uint64_t seed = 1;             // synth
  int resident_bits = 16;        // 16 (as stored / drawn), 8 or 4 (--resident-bits)
  std::filesystem::path folder;  // where the derived model lives (packed_folder())
  std::string where;             // file:line:column of its definition

  // "models/x packed to 4 bits + lz4"; the source shown as `source_label` when given.
  std::string describe(const std::string& source_label = {}) const;
  nlohmann::json to_json() const;
};

// The stamp file the lab writes into a folder it packed; a folder without it (an interrupted
// pack) or with a different one (the source or recipe changed) is packed again.
inline constexpr const char* kPackStampFile = "lab-pack.json";

// <models_dir>/<source folder name>-q<bits>[-g<group>][-r<resident bits>][-lz4]-<hash of source
// path and recipe>
// (synth: <config name>-synth-l<layers>-q<bits>[-r<resident bits>]-s<seed>[-lz4]-<hash>, r only
// when not 16): readable, and distinct for distinct sources that share a name.
std::filesystem::path packed_folder(const std::filesystem::path& models_dir,
                                    const PackRecipe& recipe);

// The files of a checkpoint folder (relative names, sizes, mtimes), or one file's, as a hash:
// what decides whether a derived folder is still current.
std::string source_fingerprint(const std::filesystem::path& folder);

struct PreparedModel {
  PackRecipe recipe;
  bool reused = false;  // the folder was current; nothing was run
  double seconds = 0;   // time spent packing
  nlohmann::json stamp;  // what the folder's stamp records (provenance for the database)
};

// Makes recipe.folder unless it is current: runs `<engine> pack --hf SOURCE --out TMP --bits B
// [--resident-bits R] [--group-size G] [--lz4]` (or `<engine> synth --like CONFIG --layers N --bits B --seed S --out
// TMP [--resident-bits R] [--lz4]`) into a scratch folder beside it and renames that into place, so an interrupted pack
// never leaves a folder that looks finished. Error naming the recipe's
// file:line when the pack fails.
PreparedModel prepare_packed_model(const PackRecipe& recipe, const std::filesystem::path& engine,
                                   Executor& executor, double timeout_s = 3600);

}  // namespace streammoe::lab
