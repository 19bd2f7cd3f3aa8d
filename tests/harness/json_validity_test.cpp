// The JSON-validity metric's rule: the first complete value from the prompt's first '{' or '['.
#include "harness/json_validity.h"

#include <gtest/gtest.h>

namespace streammoe::lab {
namespace {

TEST(JsonValidity, CompleteValueFromThePromptsFirstBrace) {
  EXPECT_TRUE(starts_valid_json("{\"name\": ", "\"streammoe\", \"k\": 8}"));
  EXPECT_TRUE(starts_valid_json("[1, ", "2, 3]"));
  EXPECT_TRUE(starts_valid_json("config = {\"a\": ", "[true, null]}"));
}

TEST(JsonValidity, ContinuationMayRunPastTheValue) {
  EXPECT_TRUE(starts_valid_json("{\"a\": ", "1}\n\nThat was JSON. {{{ garbage"));
  EXPECT_TRUE(starts_valid_json("[", "]]]"));
}

TEST(JsonValidity, IncompleteOrMalformedIsInvalid) {
  EXPECT_FALSE(starts_valid_json("{\"a\": ", "1, \"b\": "));    // truncated
  EXPECT_FALSE(starts_valid_json("{\"a\": ", "1,}"));            // trailing comma
  EXPECT_FALSE(starts_valid_json("{'a': ", "1}"));               // single quotes
  EXPECT_FALSE(starts_valid_json("{\"a\": ", "tru}"));
  EXPECT_FALSE(starts_valid_json("no brace here", " at all"));
}

TEST(JsonValidity, BraceMayComeFromTheContinuationWhenThePromptHasNone) {
  EXPECT_TRUE(starts_valid_json("Here is the object:", " {\"x\": 1}"));
}

TEST(JsonValidity, LeadingValue) {
  EXPECT_TRUE(leading_json_value_is_valid("  {\"a\": [1, 2.5e3, \"\\u00e9\"]} trailing"));
  EXPECT_FALSE(leading_json_value_is_valid("{\"a\": [1, 2}"));
}

}  // namespace
}  // namespace streammoe::lab
