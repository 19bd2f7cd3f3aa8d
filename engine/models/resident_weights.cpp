#include "engine/models/resident_weights.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "engine/util/error.h"

namespace streammoe {
namespace {

bool is_float(DType d) { return d == DType::kF32 || d == DType::kBF16 || d == DType::kF16; }

std::string shape_text(const TensorShape& s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

// "<file>: tensor <name> is <dtype> <shape>, but the manifest records <format> resident
// weights (expected <what>)": the one error for a folder whose manifest and resident file
// disagree.
[[noreturn]] void disagree(const TensorInfo& t, const ResidentFormat& f,
                           const std::string& expected) {
  fail(
      "{}: tensor {} is {} {}, but the packed manifest records {}-bit resident weights ({}; "
      "expected {})",
      t.file.string(), t.name, enum_name(t.dtype), t.shape_string(), f.bits, describe(f), expected);
}

}  // namespace

const TensorInfo& ResidentWeights::float_tensor(const std::string& name,
                                                const TensorShape& shape) const {
  const TensorInfo* t = store_.find(name);
  if (t && !is_float(t->dtype))
    disagree(*t, format_, fmt::format("a float tensor {}", shape_text(shape)));
  return store_.get(name, shape);
}

MatRef ResidentWeights::dense(TensorRole role, int64_t layer) const {
  const TensorShape shape = tensors_.shape(role);
  const TensorInfo& t = float_tensor(tensors_.name(role, layer), shape);
  return MatRef{t.dtype, t.data.data(), t.shape[0], t.shape[1]};
}

LinearRef ResidentWeights::linear(TensorRole role, int64_t layer) const {
  const TensorShape shape = tensors_.shape(role);
  const std::optional<QuantFormat> q = resident_quant(format_, role, shape);
  if (!q) return dense(role, layer);

  const std::string name = tensors_.name(role, layer);
  const TensorShape codes_shape = quant_codes_shape(shape, *q),
                    groups = quant_groups_shape(shape, *q);
  const std::string scales_name = quant_scales_name(name), biases_name = quant_biases_name(name);
  const bool affine = q->scheme == QuantScheme::kAffine;
  const std::string expected =
      fmt::format("U32 codes {} of the {} weight, with {} BF16 {}{}", shape_text(codes_shape),
                  shape_text(shape), scales_name, shape_text(groups),
                  affine ? fmt::format(" and {} BF16 {}", biases_name, shape_text(groups)) : "");
  const TensorInfo& codes = store_.get(name);
  if (codes.dtype != DType::kU32 || codes.shape != codes_shape) disagree(codes, format_, expected);
  const TensorInfo* scales = store_.find(scales_name);
  const TensorInfo* biases = store_.find(biases_name);
  if (!scales)
    fail("{}: missing tensor {}, which the packed manifest's {}-bit resident weights need ({})",
         codes.file.string(), scales_name, format_.bits, describe(format_));
  if (affine && !biases)
    fail("{}: missing tensor {}, which the packed manifest's {}-bit resident weights need ({})",
         codes.file.string(), biases_name, format_.bits, describe(format_));
  if (!affine && biases)
    fail(
        "{}: tensor {} is present, but the packed manifest records {}-bit resident weights ({}, "
        "no biases)",
        biases->file.string(), biases_name, format_.bits, describe(format_));
  for (const TensorInfo* t : {scales, biases})
    if (t && (t->dtype != DType::kBF16 || t->shape != groups)) disagree(*t, format_, expected);
  // The kernels read codes as uint32 and scales as uint16 in place; the packer puts every codes
  // tensor first in the file so both are aligned (safetensors itself does not align).
  for (const TensorInfo* t : {&codes, scales, biases})
    if (t && reinterpret_cast<uintptr_t>(t->data.data()) % dtype_size(t->dtype) != 0)
      fail("{}: tensor {} is not {}-byte aligned in the file (not written by streammoe pack?)",
           t->file.string(), t->name, dtype_size(t->dtype));

  QuantMatRef m;
  m.bits = q->bits;
  m.group_size = q->group_size;
  m.scheme = q->scheme;
  m.rows = shape[0];
  m.cols = shape[1];
  m.q = reinterpret_cast<const uint32_t*>(codes.data.data());
  m.scales = reinterpret_cast<const uint16_t*>(scales->data.data());
  m.biases = affine ? reinterpret_cast<const uint16_t*>(biases->data.data()) : nullptr;
  check_quant_mat(m, name.c_str());
  return m;
}

}  // namespace streammoe
