#include <fmt/format.h>

#include "report/exporter.h"

namespace streammoe::lab {

namespace {

std::string clean(std::string text) {
  for (char& c : text)
    if (c == '\t' || c == '\n' || c == '\r') c = ' ';
  return text;
}

}  // namespace

std::string TsvExporter::render(const LabResults& results) const {
  auto columns = tsv_columns(lab_schema());
  std::string out;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (i) out += '\t';
    out += columns[i].column->tsv_name;
  }
  out += "\n";
  for (const auto& e : results.experiments)
    for (const auto& row : e.rows) {
      for (size_t i = 0; i < columns.size(); ++i) {
        // A TSV cell is a value, not a value with its interval.
        ColumnDef plain = *columns[i].column;
        plain.ci_low = plain.ci_high = {};
        if (i) out += '\t';
        out += clean(format_cell(row, columns[i].table, plain));
      }
      out += "\n";
    }
  return out;
}

}  // namespace streammoe::lab
