#pragma once
// The JSON-validity metric: does prompt+continuation contain a complete, valid JSON value
// starting at the prompt's first '{' or '['? The continuation may run on past the value: the
// first complete value counts, whatever follows it.
#include <string_view>

namespace streammoe::lab {

bool starts_valid_json(std::string_view prompt, std::string_view continuation);

// True when `text` begins (after whitespace) with one complete JSON value.
bool leading_json_value_is_valid(std::string_view text);

}  // namespace streammoe::lab
