#include "engine/io/pack.h"

#include "engine/io/model_input.h"

namespace streammoe {

PackResult pack_model(const PackRequest& request) {
  PackOptions options;
  options.bits = request.bits;
  options.group_size = request.group_size.value_or(64);
  options.threads = request.threads;
  options.progress = request.progress;
  return write_packed_model(*open_hf_input(request.input), request.output, options);
}

}  // namespace streammoe
