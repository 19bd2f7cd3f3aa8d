#pragma once
// What the lab needs to know about a model folder without loading it: which files hold its
// experts, how large one expert record is, and how many experts a token reads (K). A packed
// folder says so in streammoe.json; a Hugging Face folder's experts live in its safetensors
// files, one record being gate + up + down in bf16.
#include <cstdint>
#include <filesystem>
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

}  // namespace streammoe::lab
