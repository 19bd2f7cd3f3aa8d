// Fuzz target: tokenizer.json (engine/tokenizer/tokenizer_json.cpp and the Tokenizer it builds:
// vocab, merges, added tokens, normalizer, pre-tokenizer, decoder), then encode and decode a few
// texts with the result, as the engine does right after loading.
#include <string>

#include "engine/tokenizer/tokenizer.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = streammoe::fuzz::as_text(data, size);
  return streammoe::fuzz::expect_error_or_success([&] {
    const streammoe::Tokenizer tok = streammoe::Tokenizer::from_json(text, "tokenizer.json");
    static const char* kTexts[] = {"def fib(n):\n    return n", "Hello, world! 123 <|im_start|>",
                                   "caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xff\xfe", "   \t\n\n  x"};
    for (const char* sample : kTexts) {
      for (bool special : {true, false}) {
        const std::vector<int32_t> ids = tok.encode(sample, special);
        (void)tok.decode(ids);
        (void)tok.decode(ids, true);
        (void)tok.decode_bytes(ids);
      }
    }
    const int32_t vocab = tok.vocab_size();
    for (int32_t id : {-1, 0, 1, vocab - 1, vocab, vocab + 1}) {
      const std::string token = tok.token_text(id);
      (void)tok.is_special(id);
      if (!token.empty()) (void)tok.token_id(token);
    }
    (void)tok.describe();
  });
}
