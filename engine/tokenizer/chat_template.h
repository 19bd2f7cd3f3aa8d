#pragma once
// Qwen's ChatML prompt format, written out instead of running the model's Jinja template:
//   <|im_start|>{role}\n{content}<|im_end|>\n   per message, then, with add_generation_prompt,
//   <|im_start|>assistant\n
// The models' own templates add tool calls and thinking blocks on top; ThinkingPrompt covers the
// generation prompt's part of the latter. Check the model's chat_template for which one it uses.
#include <span>
#include <string>

namespace streammoe {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

enum class ThinkingPrompt {
  kNone,    // "<|im_start|>assistant\n" only (Qwen2.5; Qwen3 with enable_thinking=true)
  kOpen,    // ... + "<think>\n" (templates that force thinking: QwQ, Qwen3 "Thinking" models)
  kClosed,  // ... + "<think>\n\n</think>\n\n" (Qwen3 with enable_thinking=false)
};

std::string apply_chat_template(std::span<const ChatMessage> messages, bool add_generation_prompt,
                                ThinkingPrompt thinking = ThinkingPrompt::kNone);

}  // namespace streammoe
