#pragma once
// Element types found in checkpoints, and scalar conversions to f32.
#include <cstdint>
#include <cstring>
#include <string_view>

#include "engine/util/name_table.h"

namespace streammoe {

enum class DType { kF32, kF16, kBF16, kI32, kU32, kI64, kU8, kI8 };

// Names in the safetensors spelling.
inline constexpr NameTable<DType, 8> kDTypeNames{{{
    {DType::kF32, "F32"},
    {DType::kF16, "F16"},
    {DType::kBF16, "BF16"},
    {DType::kI32, "I32"},
    {DType::kU32, "U32"},
    {DType::kI64, "I64"},
    {DType::kU8, "U8"},
    {DType::kI8, "I8"},
}}};
constexpr const auto& name_table(DType) { return kDTypeNames; }

size_t dtype_size(DType t);

inline float bf16_to_f32(uint16_t v) {
  uint32_t bits = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
// Round-to-nearest-even, as torch does.
inline uint16_t f32_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);  // NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}
float f16_to_f32(uint16_t v);
uint16_t f32_to_f16(float f);

}  // namespace streammoe
