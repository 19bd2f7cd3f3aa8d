#pragma once
// Hand-written SVG charts for index.html: no scripts, no external files, so the report opens
// anywhere and renders the same in a headless browser.
#include <string>
#include <vector>

namespace streammoe::lab {

struct BarDatum {
  std::string label;
  double value = 0;
  double low = 0;   // CI; equal to value when there is none
  double high = 0;
  std::string css_class;  // keep | discard | crash | baseline
};
// Horizontal bars with CI whiskers and a dashed line at `reference` (the baseline; <= 0: none).
std::string bar_chart(const std::string& id, const std::string& title,
                      const std::vector<BarDatum>& bars, double reference, const std::string& unit);

struct StackDatum {
  std::string label;
  std::vector<double> parts;  // one per part name
};
// Horizontal stacked bars (per-phase time per token).
std::string stacked_bar_chart(const std::string& id, const std::string& title,
                              const std::vector<std::string>& part_names,
                              const std::vector<StackDatum>& stacks, const std::string& unit);

struct ProgressPoint {
  std::string label;
  std::string track;
  double value = 0;  // speed-up over its own experiment's baseline; NaN when there is none
  std::string verdict;
  std::string experiment = {};  // "name (#id)": points of one experiment sit together
};
// Speed-up over each experiment's own baseline (1 = the baseline), experiments in the order they
// ran, separated by boundaries and labelled, kept vs discarded, with the running best per
// track. Absolute tok/s would compare different models and cache states.
std::string progress_chart(const std::string& id, const std::string& title,
                           const std::vector<ProgressPoint>& points);

std::string html_escape(const std::string& text);
// Round axis steps: 1, 2 or 5 times a power of ten, about `count` of them up to `max`.
double nice_step(double max, int count);

}  // namespace streammoe::lab
