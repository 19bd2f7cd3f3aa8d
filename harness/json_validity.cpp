#include "harness/json_validity.h"

#include <string>

#include <nlohmann/json.hpp>

namespace streammoe::lab {

namespace {

// Accepts every event: only the parser's verdict matters.
struct AcceptAll : nlohmann::json_sax<nlohmann::json> {
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }
};

}  // namespace

bool leading_json_value_is_valid(std::string_view text) {
  AcceptAll sax;
  // strict=false: parse one value and ignore what follows it.
  return nlohmann::json::sax_parse(text.begin(), text.end(), &sax,
                                   nlohmann::json::input_format_t::json, false);
}

bool starts_valid_json(std::string_view prompt, std::string_view continuation) {
  std::string text = std::string(prompt) + std::string(continuation);
  size_t start = prompt.find_first_of("{[");
  if (start == std::string_view::npos) start = text.find_first_of("{[");
  if (start == std::string::npos) return false;
  return leading_json_value_is_valid(std::string_view(text).substr(start));
}

}  // namespace streammoe::lab
