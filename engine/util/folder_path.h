#pragma once
// File names that a model folder's own index or manifest gives for its parts (shards, expert
// files): they must stay inside the folder, or a crafted folder reads any file on the machine.
#include <algorithm>
#include <filesystem>
#include <string_view>

namespace streammoe {

// True for a non-empty relative path that never climbs out of its folder ("a.bin",
// "experts/layer_000.bin", "./a.bin"); false for "", "/etc/passwd", "../x.bin", "a/../../x".
inline bool is_inside_folder(std::string_view name) {
  const std::filesystem::path path(name);
  return !name.empty() && !path.is_absolute() && !path.has_root_name() &&
         std::none_of(path.begin(), path.end(), [](const std::filesystem::path& part) { return part == ".."; });
}

}  // namespace streammoe
