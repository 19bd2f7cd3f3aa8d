#pragma once
// The one call a command needs to turn a --prompt into token ids.
#include <cstdint>
#include <string_view>
#include <vector>

#include "engine/tokenizer/chat_template.h"
#include "engine/tokenizer/tokenizer.h"

namespace streammoe {

enum class PromptFormat {
  kRaw,   // the text as it is (special tokens in it are honoured)
  kChat,  // one user turn (after a system turn when system_prompt is not empty) and the opened
          // assistant turn, in Qwen's ChatML
};

std::vector<int32_t> prompt_token_ids(const Tokenizer& tokenizer, std::string_view prompt,
                                      PromptFormat format, std::string_view system_prompt = {},
                                      ThinkingPrompt thinking = ThinkingPrompt::kNone);

}  // namespace streammoe
