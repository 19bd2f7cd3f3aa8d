#pragma once
// How a packed folder stores its resident (non-expert) weights: streammoe.json's "resident", chosen
// by `--resident-bits` at pack and synth time, read by the model loader.
//   16  every tensor in its source float dtype (bf16, f16, f32): what packing always did
//    8  8-bit symmetric codes, one bf16 scale per group of 64 (quant.h)
//    4  MLX's affine 4-bit layout, bf16 scale and bias per group of 64 (or an MLX checkpoint's own
//       group size, whose codes are kept), the layout the experts use
// Quantised are the 2-D linear weights (attention and linear-attention projections, shared
// expert, dense MLP, lm_head) and the token embedding, whose rows are dequantised on lookup, when
// the group size divides their column count; every other tensor (norms, conv1d, A_log, dt_bias,
// the routers) keeps its dtype: routing is sensitive, and those tensors are a sliver of the bytes.
// A quantised tensor is stored as MLX stores one: under its own name the U32 codes
// [rows, cols * bits / 32], beside it <module>.scales and (affine) <module>.biases, bf16
// [rows, cols / group_size].
#include <optional>
#include <string>
#include <string_view>

#include "engine/models/tensor_table.h"
#include "engine/ops/quant.h"

namespace streammoe {

struct ResidentFormat {
  int bits = 16;  // 16: unquantised
  int group_size = 64;
  QuantScheme scheme = QuantScheme::kAffine;

  bool quantized() const { return bits != 16; }
  QuantFormat quant() const { return {bits, group_size, scheme}; }
  bool operator==(const ResidentFormat&) const = default;
};

// The bit widths --resident-bits takes, and the format each names.
inline constexpr int kResidentBits[] = {16, 8, 4};
// Error naming the value unless bits is 16, 8 or 4.
ResidentFormat resident_format_for_bits(int bits);
// Error naming `where` unless the format is 16-bit, 8-bit (affine or symmetric) or 4-bit affine,
// with groups of a positive multiple of 32.
void check_resident_format(const ResidentFormat& f, const std::string& where);
// "bf16 as stored" / "8-bit symmetric, groups of 64" / "4-bit affine, groups of 64".
std::string describe(const ResidentFormat& f);

// Whether tensors of `role` are quantised when the resident weights are (linear weights and the
// embedding; not norms, conv1d, A_log, dt_bias, routers, experts).
bool is_quantizable_resident(TensorRole role);
// The format a resident tensor of `role` and (unquantised) `shape` is stored in under `f`, or
// nullopt when it keeps its float dtype: f is 16-bit, the role is not quantised, or the group
// size does not divide its columns.
std::optional<QuantFormat> resident_quant(const ResidentFormat& f, TensorRole role,
                                          const TensorShape& shape);

// The companions of a quantised weight "<module>.weight" (or any name, "<name>"):
// "<module>.scales" and "<module>.biases".
std::string quant_scales_name(std::string_view weight_name);
std::string quant_biases_name(std::string_view weight_name);
// Stored shapes of a quantised [rows, cols] matrix: codes [rows, cols * bits / 32] (U32), scales
// and biases [rows, cols / group_size] (BF16).
TensorShape quant_codes_shape(const TensorShape& shape, const QuantFormat& f);
TensorShape quant_groups_shape(const TensorShape& shape, const QuantFormat& f);

}  // namespace streammoe
