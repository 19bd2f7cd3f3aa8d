#include "engine/models/resident_format.h"

#include <fmt/format.h>

#include "engine/util/error.h"

namespace streammoe {
namespace {

constexpr int kResidentGroupSize = 64;

std::string_view module_of(std::string_view name) {
  return name.ends_with(".weight") ? name.substr(0, name.size() - 7) : name;
}

}  // namespace

ResidentFormat resident_format_for_bits(int bits) {
  switch (bits) {
    case 16:
      return {};
    // Symmetric: no bias to store (8.25 bits per weight, not 8.5) and none to add in the
    // integer-dot kernels; at 255 levels a group's centring buys nothing measurable.
    case 8:
      return {8, kResidentGroupSize, QuantScheme::kSymmetric};
    case 4:
      return {4, kResidentGroupSize, QuantScheme::kAffine};
    default:
      fail("resident bits {} is not supported (16, 8 or 4)", bits);
  }
}

void check_resident_format(const ResidentFormat& f, const std::string& where) {
  if (f.bits == 16) return;
  if (f.bits != 8 && f.bits != 4)
    fail("{}: resident bits {} is not supported (16, 8 or 4)", where, f.bits);
  if (f.scheme == QuantScheme::kSymmetric && f.bits != 8)
    fail("{}: symmetric resident quantisation is 8-bit only, not {}-bit", where, f.bits);
  if (f.group_size <= 0 || f.group_size % 32 != 0)
    fail("{}: resident group size {} is not a positive multiple of 32", where, f.group_size);
}

std::string describe(const ResidentFormat& f) {
  if (!f.quantized()) return "as stored (16-bit)";
  return fmt::format("{}-bit {}, groups of {}", f.bits, quant_scheme_name(f.scheme), f.group_size);
}

bool is_quantizable_resident(TensorRole role) {
  using R = TensorRole;
  switch (role) {
    case R::kEmbed:
    case R::kLmHead:
    case R::kQProj:
    case R::kKProj:
    case R::kVProj:
    case R::kOProj:
    case R::kLinearQkvProj:
    case R::kLinearZProj:
    case R::kLinearBProj:
    case R::kLinearAProj:
    case R::kLinearOutProj:
    case R::kMlpGate:
    case R::kMlpUp:
    case R::kMlpDown:
    case R::kSharedGate:
    case R::kSharedUp:
    case R::kSharedDown:
      return true;
    default:
      return false;
  }
}

std::optional<QuantFormat> resident_quant(const ResidentFormat& f, TensorRole role,
                                          const TensorShape& shape) {
  if (!f.quantized() || !is_quantizable_resident(role) || shape.size() != 2) return std::nullopt;
  if (shape[0] <= 0 || shape[1] <= 0 || shape[1] % f.group_size != 0) return std::nullopt;
  return f.quant();
}

std::string quant_scales_name(std::string_view weight_name) {
  return std::string(module_of(weight_name)) + ".scales";
}

std::string quant_biases_name(std::string_view weight_name) {
  return std::string(module_of(weight_name)) + ".biases";
}

TensorShape quant_codes_shape(const TensorShape& shape, const QuantFormat& f) {
  return {shape.at(0), shape.at(1) * f.bits / 32};
}

TensorShape quant_groups_shape(const TensorShape& shape, const QuantFormat& f) {
  return {shape.at(0), shape.at(1) / f.group_size};
}

}  // namespace streammoe
