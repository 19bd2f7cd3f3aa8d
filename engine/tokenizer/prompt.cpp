#include "engine/tokenizer/prompt.h"

#include <string>

namespace streammoe {

std::vector<int32_t> prompt_token_ids(const Tokenizer& tokenizer, std::string_view prompt,
                                      PromptFormat format, std::string_view system_prompt,
                                      ThinkingPrompt thinking) {
  if (format == PromptFormat::kRaw) return tokenizer.encode(prompt);
  std::vector<ChatMessage> messages;
  if (!system_prompt.empty()) messages.push_back({"system", std::string(system_prompt)});
  messages.push_back({"user", std::string(prompt)});
  return tokenizer.encode(apply_chat_template(messages, /*add_generation_prompt=*/true, thinking));
}

}  // namespace streammoe
