#include "engine/cli/lz4_option.h"

#include <fmt/format.h>

#include "engine/convert/lz4_writer.h"

namespace streammoe::cli {

void add_lz4_flag(CLI::App& cmd, bool& lz4) {
  cmd.add_flag("--lz4", lz4,
               "also write LZ4-compressed expert files with an offset table (for --expert-cache lz4)");
}

std::string write_lz4_copies(const std::filesystem::path& folder) {
  const Lz4PackResult z = write_lz4_experts(folder);
  return fmt::format("  lz4: {:.3f} GB of experts -> {:.3f} GB (ratio {:.3f}) in experts/layer_LLL.lz4\n",
                     z.raw_bytes / 1e9, z.compressed_bytes / 1e9,
                     z.raw_bytes ? static_cast<double>(z.compressed_bytes) / z.raw_bytes : 0.0);
}

}  // namespace streammoe::cli
