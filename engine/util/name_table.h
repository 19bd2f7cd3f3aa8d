#pragma once
// NameTable: the one place an enum's values get their names and their help. Parsing, printing,
// the list of valid values in error messages, help text and `streammoe options --json` all read
// the table, so a value's spelling is written once, next to the enum it names.
//
//   enum class IoMode { kPread, kDirect };
//   inline constexpr NameTable<IoMode, 2> kIoModeNames{{{
//       {IoMode::kPread, "pread", "through the page cache"},
//       {IoMode::kDirect, "direct", "O_DIRECT, bypassing the page cache"},
//   }}};
//   constexpr const auto& name_table(IoMode) { return kIoModeNames; }   // found by ADL
//
// Generic code (option visitors) reaches a table through `name_table(value)`.
#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace streammoe {

template <typename Enum>
struct NameEntry {
  Enum value;
  std::string_view name;
  std::string_view help = {};  // what the value does (switches); empty for plain names
};

template <typename Enum, size_t N>
struct NameTable {
  std::array<NameEntry<Enum>, N> entries;

  constexpr std::string_view name(Enum value) const {
    for (const auto& [v, n, h] : entries)
      if (v == value) return n;
    return "?";
  }
  constexpr std::string_view help(Enum value) const {
    for (const auto& [v, n, h] : entries)
      if (v == value) return h;
    return {};
  }
  constexpr std::optional<Enum> parse(std::string_view text) const {
    for (const auto& [v, n, h] : entries)
      if (n == text) return v;
    return std::nullopt;
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [v, n, h] : entries) out.emplace_back(n);
    return out;
  }
  // "a, b, c": what an error message lists as the valid values.
  std::string valid() const { return join(", "); }
  // The names joined by `sep`, leaving out `except` ("lru or lz4": the choices other than none).
  std::string join(std::string_view sep, std::optional<Enum> except = std::nullopt) const {
    std::string out;
    for (const auto& [v, n, h] : entries) {
      if (except && v == *except) continue;
      if (!out.empty()) out += sep;
      out += n;
    }
    return out;
  }
};

// The name of an enum value that has a table.
template <typename Enum>
std::string_view enum_name(Enum value) {
  return name_table(value).name(value);
}

// Sets *out and returns true when `text` names a value of Enum; false (and *out untouched) if not.
template <typename Enum>
bool parse_enum(std::string_view text, Enum* out) {
  const std::optional<Enum> value = name_table(Enum{}).parse(text);
  if (value) *out = *value;
  return value.has_value();
}

}  // namespace streammoe
