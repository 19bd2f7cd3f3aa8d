#include "engine/tokenizer/stream_decoder.h"

#include "engine/util/utf8.h"

namespace streammoe {

std::string StreamDecoder::push(int32_t id) {
  const int32_t ids[] = {id};
  pending_ += tokenizer_.decode_bytes(ids, skip_special_);
  const size_t complete = utf8::complete_prefix_length(pending_);
  std::string text = utf8::to_valid_lossy(std::string_view(pending_).substr(0, complete));
  pending_.erase(0, complete);
  return text;
}

std::string StreamDecoder::finish() {
  std::string text = utf8::to_valid_lossy(pending_);
  pending_.clear();
  return text;
}

}  // namespace streammoe
