#include <fmt/format.h>

#include "report/exporter.h"
#include "report/svg_charts.h"

namespace streammoe::lab {

namespace {

std::string escape_cell(std::string text) {
  std::string out;
  for (char c : text) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n' || c == '\r') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

// Free text from the YAML (names, hypotheses) as the HTML exporter writes it: markdown renders
// inline HTML, so a hypothesis with <script> in it must arrive as text. One line: a newline
// would end a heading.
std::string free_text(const std::string& text) {
  std::string line = text;
  for (char& c : line)
    if (c == '\n' || c == '\r') c = ' ';
  return html_escape(line);
}

}  // namespace

std::string markdown_table(const ResultsTable& table) {
  if (table.cells.empty()) return "_no verdicts yet_\n";
  // Appends rather than operator+ chains: GCC 12 reports false -Wrestrict on those at -O3.
  std::string out = "|";
  for (const auto& h : table.headers) out += fmt::format(" {} |", escape_cell(h));
  out += "\n|";
  for (bool numeric : table.numeric) out += numeric ? " ---: |" : " --- |";
  out += "\n";
  for (const auto& row : table.cells) {
    out += "|";
    for (const auto& cell : row) out += fmt::format(" {} |", escape_cell(cell));
    out += "\n";
  }
  return out;
}

std::string MarkdownExporter::render(const LabResults& results) const {
  std::string out = "# streammoe lab results\n\n";
  if (results.experiments.empty()) out += "_no experiments in the database_\n";
  for (const auto& e : results.experiments) {
    out += fmt::format("## {} (#{})\n\n", free_text(e.name), e.id);
    if (!e.hypothesis.empty()) out += fmt::format("**Hypothesis:** {}\n\n", free_text(e.hypothesis));
    out += fmt::format("Started {}, {}: {}/{} runs recorded, {} failed{}.\n\n", e.started_at,
                       e.status, e.runs_recorded, e.runs_planned, e.runs_failed,
                       e.sessions > 1 ? fmt::format(", {} sessions (resumed)", e.sessions) : "");
    out += fmt::format("Environment: {}.\n\n", environment_summary(e));
    if (!e.warnings.empty()) out += fmt::format("**Warning:** {}.\n\n", e.warnings);
    out += markdown_table(results_table(e));
    out += "\n";
  }
  return out;
}

}  // namespace streammoe::lab
