#pragma once
// One exporter per output format behind a one-method interface (hyperfine's export/ layout):
// each turns the loaded results into the text of one file.
#include <memory>
#include <string>

#include "report/results.h"

namespace streammoe::lab {

class Exporter {
 public:
  virtual ~Exporter() = default;
  virtual std::string render(const LabResults& results) const = 0;
};

// results.md: per experiment, its hypothesis, environment and results table.
class MarkdownExporter final : public Exporter {
 public:
  std::string render(const LabResults& results) const override;
};

// results.tsv: the reference system's columns (commit, model, params_B, active_B, tok_sec,
// ttft_ms, mem_gb, status, description), one row per variant and model.
class TsvExporter final : public Exporter {
 public:
  std::string render(const LabResults& results) const override;
};

// runs.tsv: the flat export, one row per run with its experiment, variant, metrics and
// environment (the runs_flat view), like llama-bench's SQL output.
class RunsTsvExporter final : public Exporter {
 public:
  std::string render(const LabResults& results) const override;
};

// index.html: self-contained (inline CSS, hand-written SVG): tables, tok/s with CI bars,
// per-phase time breakdown, and the progress plot across experiments.
class HtmlExporter final : public Exporter {
 public:
  std::string render(const LabResults& results) const override;
};

// A results table as markdown (also what `run` and `show` print).
std::string markdown_table(const ResultsTable& table);

}  // namespace streammoe::lab
