#pragma once
// What the lab needs to know about a model folder without loading it: which files hold its
// experts, how large one expert record is, and how many experts a token reads (K). A packed
// folder says so in streammoe.json; a Hugging Face folder's experts live in its safetensors
// files, one record being gate + up + down in bf16.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

namespace streammoe::lab {

struct ExpertFiles {
  std::vector<std::filesystem::path> files;  // the files expert records are read from
  uint64_t record_bytes = 0;                 // one expert (0 when the config does not say)
  int experts_per_token = 0;                 // K (0 when the config does not say)
  uint64_t total_bytes = 0;                  // of `files`
  bool packed = false;
};

// Never throws: a folder it cannot read gives empty fields.
ExpertFiles expert_files(const std::filesystem::path& model);

// What a model keeps resident (its non-expert weights) and what it streams (its experts).
struct ModelBytes {
  double resident = 0;
  double experts = 0;
};

// From a packed folder's files (the manifest's resident file and expert files); nullopt for a
// folder that is not packed, whose safetensors files mix the two.
std::optional<ModelBytes> packed_model_bytes(const std::filesystem::path& model);

}  // namespace streammoe::lab
