#include "engine/convert/pack.h"

#include "engine/convert/model_input.h"
#include "engine/io/packed_format.h"
#include "engine/util/error.h"

namespace streammoe {

PackResult pack_model(const PackRequest& request) {
  std::unique_ptr<ModelInput> input;
  PackOptions options;
  options.bits = request.bits;
  options.group_size = request.group_size.value_or(64);
  options.resident = resident_format_for_bits(request.resident_bits);
  options.threads = request.threads;
  options.progress = request.progress;
  // A packed folder read as a checkpoint would fail later on a "missing tensor" (its experts are
  // in experts/*.bin), which says nothing of the real mistake.
  if (is_packed_model(request.input))
    fail("{}: is already a packed model (it has {}); pack reads a Hugging Face or MLX checkpoint",
         request.input.string(), kPackedManifestName);
  if (is_mlx_checkpoint(request.input)) {
    input = open_mlx_input(request.input);
    // MLX's codes are copied as they are, so the group size is theirs unless the user insists
    // (and write_packed_model refuses a mismatch).
    if (!request.group_size) options.group_size = input->stored_expert_quantization()->group_size;
    // The same for its resident codes, kept at 4 bits in their own groups.
    if (options.resident.bits == 4)
      if (const auto stored = input->stored_resident_quantization(); stored && stored->bits == 4)
        options.resident.group_size = stored->group_size;
  } else {
    input = open_hf_input(request.input);
  }
  return write_packed_model(*input, request.output, options);
}

}  // namespace streammoe
