#include "engine/convert/resident_quant.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstring>
#include <map>
#include <memory>

#include "engine/convert/tensor_reader.h"
#include "engine/models/tensor_table.h"
#include "engine/ops/quant.h"
#include "engine/util/error.h"

namespace streammoe {
namespace {

enum class Part { kCodes, kScales, kBiases };

// One array of the quantised form of `source` ([rows, cols] floats): each chunk of rows is read
// from the source, quantised, and the part asked for copied out. Rows are quantised
// independently, so the result does not depend on how the writer chunks them.
StreamedTensor quantized_part(std::shared_ptr<const StreamedTensor> source, Part part,
                              const QuantFormat& format) {
  const TensorShape shape = source->shape;
  const int64_t cols = shape[1];
  StreamedTensor out;
  out.name = part == Part::kCodes    ? source->name
             : part == Part::kScales ? quant_scales_name(source->name)
                                     : quant_biases_name(source->name);
  out.dtype = part == Part::kCodes ? DType::kU32 : DType::kBF16;
  out.shape =
      part == Part::kCodes ? quant_codes_shape(shape, format) : quant_groups_shape(shape, format);
  const uint64_t row_bytes = out.row_bytes(), source_row_bytes = source->row_bytes();
  out.fill = [=](uint64_t offset, std::span<std::byte> dst) {
    const int64_t r0 = static_cast<int64_t>(offset / row_bytes);
    const int64_t rows = static_cast<int64_t>(dst.size() / row_bytes);
    // Reused per thread: chunk-sized allocations each call make glibc's heap grow.
    thread_local std::vector<std::byte> raw;
    thread_local std::vector<float> values;
    raw.resize(rows * source_row_bytes);
    values.resize(rows * cols);
    source->fill(r0 * source_row_bytes, raw);
    convert_to_f32(source->dtype, raw, values, source->name);
    QuantMatrix q;
    try {
      q = quantize_rows(values, rows, cols, format);
    } catch (const Error& e) {
      fail("rows [{}, {}) of {}: {}", r0, r0 + rows, source->name, e.what());
    }
    const void* from = part == Part::kCodes    ? static_cast<const void*>(q.q.data())
                       : part == Part::kScales ? static_cast<const void*>(q.scales.data())
                                               : static_cast<const void*>(q.biases.data());
    std::memcpy(dst.data(), from, dst.size());
  };
  return out;
}

// Codes the input holds already: they, and their scales (and biases), must be in `format`.
void check_held_codes(const StreamedTensor& codes, const TensorShape& shape,
                      const QuantFormat& format,
                      const std::map<std::string, const StreamedTensor*>& by_name,
                      const std::string& where) {
  const TensorShape codes_shape = quant_codes_shape(shape, format);
  const TensorShape groups = quant_groups_shape(shape, format);
  if (codes.shape != codes_shape)
    fail("{}: {} holds U32 codes [{}], not the [{}] of {}-bit codes for its [{}] weight", where,
         codes.name, fmt::join(codes.shape, ", "), fmt::join(codes_shape, ", "), format.bits,
         fmt::join(shape, ", "));
  const bool affine = format.scheme == QuantScheme::kAffine;
  for (const std::string& name : {quant_scales_name(codes.name), quant_biases_name(codes.name)}) {
    const bool wanted = affine || name == quant_scales_name(codes.name);
    auto it = by_name.find(name);
    if (!wanted) {
      if (it != by_name.end())
        fail("{}: {} has biases, but the resident format is symmetric", where, codes.name);
      continue;
    }
    if (it == by_name.end()) fail("{}: {} holds codes but no {}", where, codes.name, name);
    if (it->second->dtype != DType::kBF16 || it->second->shape != groups)
      fail("{}: {} is {} [{}], expected BF16 [{}] (group size {})", where, name,
           enum_name(it->second->dtype), fmt::join(it->second->shape, ", "),
           fmt::join(groups, ", "), format.group_size);
  }
}

}  // namespace

ResidentTensors to_resident_format(std::vector<StreamedTensor> source, const ModelConfig& config,
                                   const ResidentFormat& format, const std::string& where) {
  ResidentTensors out;
  if (!format.quantized()) {
    out.tensors = std::move(source);
    return out;
  }
  check_resident_format(format, where);
  const ModelTensors tensors(config);
  std::map<std::string, const StreamedTensor*> by_name;
  for (const StreamedTensor& t : source) by_name[t.name] = &t;
  // What becomes of each tensor, decided (and checked) before any is moved.
  std::vector<std::optional<QuantFormat>> formats(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    const StreamedTensor& t = source[i];
    const std::optional<TensorRole> role = tensors.role_of(t.name);
    if (!role || !is_quantizable_resident(*role)) continue;
    const TensorShape shape = tensors.shape(*role);
    formats[i] = resident_quant(format, *role, shape);
    if (!formats[i]) {
      ++out.kept_float;
      continue;
    }
    ++out.quantized;
    if (t.dtype == DType::kU32)
      check_held_codes(t, shape, *formats[i], by_name, where);
    else if (t.shape != shape)
      fail("{}: tensor {} has shape [{}], expected [{}]", where, t.name, fmt::join(t.shape, ", "),
           fmt::join(shape, ", "));
  }

  std::vector<StreamedTensor> codes, rest;
  for (size_t i = 0; i < source.size(); ++i) {
    StreamedTensor& t = source[i];
    const std::optional<QuantFormat>& q = formats[i];
    if (!q) {
      rest.push_back(std::move(t));
    } else if (t.dtype == DType::kU32) {
      codes.push_back(std::move(t));
    } else {
      auto held = std::make_shared<const StreamedTensor>(std::move(t));
      codes.push_back(quantized_part(held, Part::kCodes, *q));
      rest.push_back(quantized_part(held, Part::kScales, *q));
      if (q->scheme == QuantScheme::kAffine)
        rest.push_back(quantized_part(held, Part::kBiases, *q));
    }
  }
  out.tensors = std::move(codes);
  for (StreamedTensor& t : rest) out.tensors.push_back(std::move(t));
  return out;
}

}  // namespace streammoe
