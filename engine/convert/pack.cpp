#include "engine/convert/pack.h"

#include "engine/convert/model_input.h"

namespace streammoe {

PackResult pack_model(const PackRequest& request) {
  std::unique_ptr<ModelInput> input;
  PackOptions options;
  options.bits = request.bits;
  options.group_size = request.group_size.value_or(64);
  options.threads = request.threads;
  options.progress = request.progress;
  if (is_mlx_checkpoint(request.input)) {
    input = open_mlx_input(request.input);
    // MLX's codes are copied as they are, so the group size is theirs unless the user insists
    // (and write_packed_model refuses a mismatch).
    if (!request.group_size) options.group_size = input->stored_expert_quantization()->group_size;
  } else {
    input = open_hf_input(request.input);
  }
  return write_packed_model(*input, request.output, options);
}

}  // namespace streammoe
