#include "engine/convert/tensor_reader.h"

#include <cstring>

#include "engine/util/error.h"

namespace streammoe {

TensorReader::TensorReader(const TensorStore& store) {
  for (const std::string& name : store.names()) {
    const TensorInfo* t = store.find(name);
    if (!files_.count(t->file))
      files_.emplace(t->file, std::make_unique<ExpertFile>(t->file, IoMode::kPread));
  }
}

void TensorReader::read(const TensorInfo& t, uint64_t offset, std::span<std::byte> out) const {
  if (offset + out.size() > t.data.size())
    fail("{}: tensor {}: read of {} bytes at {} is outside its {} bytes", t.file.string(), t.name,
         out.size(), offset, t.data.size());
  files_.at(t.file)->read_exact(t.file_offset + offset, out);
}

void convert_to_f32(DType dtype, std::span<const std::byte> in, std::span<float> out,
                    const std::string& what) {
  const size_t n = out.size();
  if (in.size() != n * dtype_size(dtype)) fail("{}: {} bytes for {} values", what, in.size(), n);
  switch (dtype) {
    case DType::kF32:
      std::memcpy(out.data(), in.data(), n * 4);
      return;
    case DType::kBF16:
    case DType::kF16: {
      for (size_t i = 0; i < n; ++i) {
        uint16_t v;
        std::memcpy(&v, in.data() + 2 * i, 2);
        out[i] = dtype == DType::kBF16 ? bf16_to_f32(v) : f16_to_f32(v);
      }
      return;
    }
    default:
      fail("{}: dtype {} is not a float type", what, enum_name(dtype));
  }
}

void convert_from_f32(std::span<const float> in, DType dtype, std::span<std::byte> out) {
  const size_t n = in.size();
  if (out.size() != n * dtype_size(dtype))
    fail("convert_from_f32: {} bytes for {} values", out.size(), n);
  switch (dtype) {
    case DType::kF32:
      std::memcpy(out.data(), in.data(), n * 4);
      return;
    case DType::kBF16:
    case DType::kF16:
      for (size_t i = 0; i < n; ++i) {
        const uint16_t v = dtype == DType::kBF16 ? f32_to_bf16(in[i]) : f32_to_f16(in[i]);
        std::memcpy(out.data() + 2 * i, &v, 2);
      }
      return;
    default:
      fail("convert_from_f32: dtype {} is not a float type", enum_name(dtype));
  }
}

}  // namespace streammoe
