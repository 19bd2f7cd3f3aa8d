#include <cmath>

#include <fmt/format.h>

#include "report/exporter.h"

namespace streammoe::lab {

namespace {

std::string cell(const SqlValue& v) {
  if (auto* d = std::get_if<double>(&v)) return std::isfinite(*d) ? fmt::format("{}", *d) : "";
  std::string text = to_text(v);
  for (char& c : text)
    if (c == '\t' || c == '\n' || c == '\r') c = ' ';
  return text;
}

}  // namespace

std::string RunsTsvExporter::render(const LabResults& results) const {
  // Appends rather than operator+ chains: GCC 12 reports false -Wrestrict on those at -O3.
  std::string out;
  for (size_t i = 0; i < results.runs.columns.size(); ++i) {
    if (i) out += '\t';
    out += results.runs.columns[i];
  }
  out += '\n';
  for (const auto& row : results.runs.rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      if (i) out += '\t';
      out += cell(row[i]);
    }
    out += '\n';
  }
  return out;
}

}  // namespace streammoe::lab
