#include "engine/tokenizer/chat_template.h"

namespace streammoe {

std::string apply_chat_template(std::span<const ChatMessage> messages, bool add_generation_prompt,
                                ThinkingPrompt thinking) {
  std::string prompt;
  for (const ChatMessage& message : messages) {
    prompt += "<|im_start|>";
    prompt += message.role;
    prompt += '\n';
    prompt += message.content;
    prompt += "<|im_end|>\n";
  }
  if (add_generation_prompt) {
    prompt += "<|im_start|>assistant\n";
    if (thinking == ThinkingPrompt::kOpen) prompt += "<think>\n";
    if (thinking == ThinkingPrompt::kClosed) prompt += "<think>\n\n</think>\n\n";
  }
  return prompt;
}

}  // namespace streammoe
