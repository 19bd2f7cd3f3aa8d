#include <cmath>

#include <fmt/format.h>

#include "report/exporter.h"
#include "report/svg_charts.h"

namespace streammoe::lab {

namespace {

constexpr const char* kStyle = R"(
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1100px; color: #212121; }
h1 { font-size: 24px; } h2 { font-size: 19px; margin-top: 36px; border-bottom: 1px solid #ddd; }
table.results { border-collapse: collapse; margin: 12px 0; font-size: 13px; }
table.results th, table.results td { border: 1px solid #ddd; padding: 3px 8px; }
table.results th { background: #f5f5f5; }
table.results td:last-child { min-width: 16em; }
table.results td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.keep td { background: #e8f5e9; } tr.crash td { background: #ffebee; }
tr.baseline td { background: #e3f2fd; }
.meta { color: #555; font-size: 13px; }
.warning { color: #8d5300; font-size: 13px; }
svg.chart { display: block; margin: 14px 0; background: #fff; }
svg .title { font-weight: 600; font-size: 14px; }
svg .label, svg .tick, svg .axis { font-size: 11px; fill: #333; }
svg .grid { stroke: #eee; }
svg .bar.keep { fill: #43a047; } svg .bar.discard { fill: #9e9e9e; }
svg .bar.crash { fill: #e53935; } svg .bar.baseline { fill: #1e88e5; }
svg .ci line { stroke: #212121; stroke-width: 1.3; }
svg .reference { stroke: #1e88e5; stroke-dasharray: 4 3; stroke-width: 1.3; }
svg .crash-text { fill: #c62828; font-size: 11px; }
svg .best { fill: none; stroke-width: 2; }
svg .unity { stroke: #1e88e5; stroke-dasharray: 2 3; }
svg .boundary { stroke: #9e9e9e; stroke-dasharray: 3 3; }
svg .experiment-label { font-size: 11px; fill: #424242; }
svg .point.keep { fill: #2e7d32; } svg .point.baseline { fill: #1e88e5; }
svg .point.discard { fill: #fff; stroke: #757575; stroke-width: 1.5; }
svg .point.crash { fill: #e53935; }
)";

std::string html_table(const ResultsTable& table) {
  std::string out = "<table class=\"results\">\n<thead><tr>";
  for (const auto& h : table.headers) out += "<th>" + html_escape(h) + "</th>";
  out += "</tr></thead>\n<tbody>\n";
  for (size_t r = 0; r < table.cells.size(); ++r) {
    out += fmt::format("<tr class=\"{}\">", html_escape(table.verdicts[r]));
    for (size_t c = 0; c < table.cells[r].size(); ++c)
      out += fmt::format("<td{}>{}</td>", table.numeric[c] ? " class=\"num\"" : "",
                         html_escape(table.cells[r][c]));
    out += "</tr>\n";
  }
  return out + "</tbody>\n</table>\n";
}

std::string row_label(const ExperimentResults& e, const VariantRow& row) {
  bool many_models = false;
  for (const auto& other : e.rows)
    if (other.text("verdicts.model") != row.text("verdicts.model")) many_models = true;
  return row.text("variants.name") + (many_models ? " @ " + row.text("verdicts.model") : "");
}

}  // namespace

std::string HtmlExporter::render(const LabResults& results) const {
  std::string body;
  std::vector<ProgressPoint> progress;
  for (const auto& e : results.experiments) {
    body += fmt::format("<section class=\"experiment\" id=\"experiment-{}\">\n<h2>{} (#{})</h2>\n",
                        e.id, html_escape(e.name), e.id);
    if (!e.hypothesis.empty())
      body += fmt::format("<p><b>Hypothesis:</b> {}</p>\n", html_escape(e.hypothesis));
    body += fmt::format(
        "<p class=\"meta\">Started {}, {}: {}/{} runs recorded, {} failed. {}</p>\n",
        html_escape(e.started_at), html_escape(e.status), e.runs_recorded, e.runs_planned,
        e.runs_failed, html_escape(environment_summary(e)));
    if (!e.warnings.empty())
      body += fmt::format("<p class=\"warning\"><b>Warning:</b> {}.</p>\n", html_escape(e.warnings));
    body += html_table(results_table(e));

    std::vector<BarDatum> bars;
    std::vector<StackDatum> stacks;
    double baseline = 0;
    for (const auto& row : e.rows) {
      std::string verdict = row.text("verdicts.verdict");
      BarDatum bar{row_label(e, row), row.number("verdicts.tok_s_median"),
                   row.number("verdicts.tok_s_ci_low"), row.number("verdicts.tok_s_ci_high"),
                   verdict};
      if (verdict == "baseline" && std::isfinite(bar.value)) baseline = bar.value;
      bars.push_back(bar);
      StackDatum stack{bar.label, {}};
      for (auto phase : phase_names()) {
        auto it = row.phase_ms.find(std::string(phase));
        stack.parts.push_back(it == row.phase_ms.end() ? NAN : it->second);
      }
      stacks.push_back(stack);
      double speedup = verdict == "baseline" ? 1.0 : row.number("verdicts.speedup");
      progress.push_back({e.name + "/" + row_label(e, row), e.track, speedup, verdict,
                          fmt::format("{} (#{})", e.name, e.id)});
    }
    body += bar_chart(fmt::format("tok-s-{}", e.id), "Decode tok/s per variant (median, 95% CI)",
                      bars, baseline, "tokens per second");
    std::vector<std::string> parts;
    for (auto p : phase_names()) parts.emplace_back(p);
    body += stacked_bar_chart(fmt::format("phases-{}", e.id),
                              "Time per token by phase (median of runs)", parts, stacks,
                              "ms per token");
    body += "</section>\n";
  }
  std::string progress_svg =
      progress.empty() ? "<p>No verdicts yet.</p>\n"
                       : progress_chart("progress",
                                        "Progress: speed-up over each experiment's own baseline",
                                        progress);
  return fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<title>streammoe lab results</title>\n<style>{}</style>\n</head>\n<body>\n"
      "<h1>streammoe lab results</h1>\n<p class=\"meta\">{} experiments. Kept variants are "
      "green, discarded grey, crashed red, baselines blue.</p>\n{}{}</body>\n</html>\n",
      kStyle, results.experiments.size(), progress_svg, body);
}

}  // namespace streammoe::lab
