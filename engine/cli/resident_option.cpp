#include "engine/cli/resident_option.h"

#include <fmt/format.h>

#include <vector>

namespace streammoe::cli {

void add_resident_bits_option(CLI::App& cmd, int& bits) {
  cmd.add_option("--resident-bits", bits,
                 "bits per resident (non-expert) weight: 16 keeps each tensor's dtype; 8 is 8-bit "
                 "symmetric, 4 the experts' MLX affine 4-bit layout, both in groups of 64, for the "
                 "linear weights (attention, shared expert, lm_head) and the token embedding; "
                 "norms, conv1d, A_log, dt_bias and routers keep their dtype. An MLX 4-bit "
                 "checkpoint's resident codes are kept as they are at 4 (in its own groups) and "
                 "dequantised at 8 or 16")
      ->check(CLI::IsMember(std::vector<int>(std::begin(kResidentBits), std::end(kResidentBits))))
      ->capture_default_str();
}

std::string resident_summary(const PackResult& r) {
  const ResidentFormat& f = r.manifest.resident;
  if (!f.quantized()) return "resident weights: as stored (16-bit)\n";
  return fmt::format(
      "resident weights: {}: {} linear weights and embeddings quantised{}{}\n", describe(f),
      r.resident_quantized, r.resident_codes_kept ? " (the input's codes kept as stored)" : "",
      r.resident_kept_float ? fmt::format(", {} kept in their dtype (columns not a multiple of {})",
                                          r.resident_kept_float, f.group_size)
                            : "");
}

}  // namespace streammoe::cli
