#include "report/svg_charts.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

namespace streammoe::lab {

namespace {

constexpr int kLabelWidth = 220;
constexpr int kPlotWidth = 520;
constexpr int kRowHeight = 24;
constexpr int kTop = 34;
constexpr int kAxisHeight = 36;

const std::vector<std::string>& palette() {
  static const std::vector<std::string> colors = {"#1565c0", "#ef6c00", "#6a1b9a", "#00838f",
                                                  "#ad1457", "#558b2f", "#4e342e", "#283593"};
  return colors;
}

std::string num(double v) { return fmt::format("{:.1f}", v); }

std::string tick_label(double v) {
  if (v == 0) return "0";
  if (std::fabs(v) >= 100) return fmt::format("{:.0f}", v);
  if (std::fabs(v) >= 1) return fmt::format("{:.3g}", v);
  return fmt::format("{:.2g}", v);
}

// The x axis of a horizontal chart: grid lines and labels from 0 to max.
std::string x_axis(double max, double scale, int top, int height, const std::string& unit) {
  std::string out;
  double step = nice_step(max, 5);
  for (double t = 0; t <= max + step * 1e-9; t += step) {
    double x = kLabelWidth + t * scale;
    out += fmt::format(
        "<line class=\"grid\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>"
        "<text class=\"tick\" x=\"{0}\" y=\"{3}\" text-anchor=\"middle\">{4}</text>\n",
        num(x), top, top + height, top + height + 14, tick_label(t));
  }
  out += fmt::format("<text class=\"axis\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
                     kLabelWidth + kPlotWidth / 2, top + height + 30, html_escape(unit));
  return out;
}

std::string open_svg(const std::string& id, const std::string& title, int width, int height) {
  return fmt::format(
      "<svg class=\"chart\" id=\"{}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" "
      "height=\"{}\" viewBox=\"0 0 {} {}\" role=\"img\">\n<title>{}</title>\n"
      "<text class=\"title\" x=\"8\" y=\"20\">{}</text>\n",
      id, width, height, width, height, html_escape(title), html_escape(title));
}

}  // namespace

std::string html_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

double nice_step(double max, int count) {
  if (!(max > 0) || !std::isfinite(max)) return 1;
  double raw = max / count;
  double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * power >= raw) return m * power;
  return 10 * power;
}

std::string bar_chart(const std::string& id, const std::string& title,
                      const std::vector<BarDatum>& bars, double reference,
                      const std::string& unit) {
  int height = kTop + static_cast<int>(bars.size()) * kRowHeight + kAxisHeight;
  int width = kLabelWidth + kPlotWidth + 30;
  double max = reference;
  for (const auto& b : bars)
    for (double v : {b.value, b.high})
      if (std::isfinite(v)) max = std::max(max, v);
  if (!(max > 0)) max = 1;
  double axis_max = std::ceil(max * 1.05 / nice_step(max * 1.05, 5)) * nice_step(max * 1.05, 5);
  double scale = kPlotWidth / axis_max;
  std::string out = open_svg(id, title, width, height);
  out += x_axis(axis_max, scale, kTop, static_cast<int>(bars.size()) * kRowHeight, unit);
  for (size_t i = 0; i < bars.size(); ++i) {
    const BarDatum& b = bars[i];
    int y = kTop + static_cast<int>(i) * kRowHeight;
    out += fmt::format("<text class=\"label\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n",
                       kLabelWidth - 6, y + 16, html_escape(b.label));
    if (!std::isfinite(b.value)) {
      out += fmt::format("<text class=\"crash-text\" x=\"{}\" y=\"{}\">no successful runs</text>\n",
                         kLabelWidth + 4, y + 16);
      continue;
    }
    out += fmt::format(
        "<rect class=\"bar {}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\">"
        "<title>{}: {:.3f} {} [{:.3f}, {:.3f}]</title></rect>\n",
        html_escape(b.css_class), kLabelWidth, y + 4, num(std::max(0.5, b.value * scale)),
        kRowHeight - 8, html_escape(b.label), b.value, html_escape(unit), b.low, b.high);
    if (std::isfinite(b.low) && std::isfinite(b.high)) {
      double x1 = kLabelWidth + b.low * scale, x2 = kLabelWidth + b.high * scale;
      int mid = y + kRowHeight / 2;
      out += fmt::format(
          "<g class=\"ci\"><line x1=\"{0}\" y1=\"{2}\" x2=\"{1}\" y2=\"{2}\"/>"
          "<line x1=\"{0}\" y1=\"{3}\" x2=\"{0}\" y2=\"{4}\"/>"
          "<line x1=\"{1}\" y1=\"{3}\" x2=\"{1}\" y2=\"{4}\"/></g>\n",
          num(x1), num(x2), mid, mid - 6, mid + 6);
    }
  }
  if (reference > 0) {
    double x = kLabelWidth + reference * scale;
    out += fmt::format(
        "<line class=\"reference\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>\n", num(x),
        kTop - 4, kTop + static_cast<int>(bars.size()) * kRowHeight);
  }
  return out + "</svg>\n";
}

std::string stacked_bar_chart(const std::string& id, const std::string& title,
                              const std::vector<std::string>& part_names,
                              const std::vector<StackDatum>& stacks, const std::string& unit) {
  int legend_height = 22;
  int height = kTop + legend_height + static_cast<int>(stacks.size()) * kRowHeight + kAxisHeight;
  int width = kLabelWidth + kPlotWidth + 30;
  double max = 0;
  for (const auto& s : stacks) {
    double total = 0;
    for (double p : s.parts)
      if (std::isfinite(p)) total += p;
    max = std::max(max, total);
  }
  if (!(max > 0)) max = 1;
  double step = nice_step(max * 1.05, 5);
  double axis_max = std::ceil(max * 1.05 / step) * step;
  double scale = kPlotWidth / axis_max;
  std::string out = open_svg(id, title, width, height);
  // Legend
  int lx = 8;
  for (size_t p = 0; p < part_names.size(); ++p) {
    const std::string& color = palette()[p % palette().size()];
    out += fmt::format(
        "<rect x=\"{}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{}\"/>"
        "<text class=\"tick\" x=\"{}\" y=\"{}\">{}</text>\n",
        lx, kTop - 2, color, lx + 14, kTop + 7, html_escape(part_names[p]));
    lx += 20 + static_cast<int>(part_names[p].size()) * 7;
  }
  int top = kTop + legend_height;
  out += x_axis(axis_max, scale, top, static_cast<int>(stacks.size()) * kRowHeight, unit);
  for (size_t i = 0; i < stacks.size(); ++i) {
    int y = top + static_cast<int>(i) * kRowHeight;
    out += fmt::format("<text class=\"label\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n",
                       kLabelWidth - 6, y + 16, html_escape(stacks[i].label));
    double x = kLabelWidth;
    for (size_t p = 0; p < stacks[i].parts.size() && p < part_names.size(); ++p) {
      double v = stacks[i].parts[p];
      if (!std::isfinite(v) || v <= 0) continue;
      out += fmt::format(
          "<rect class=\"segment\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\">"
          "<title>{} {}: {:.4f} {}</title></rect>\n",
          num(x), y + 4, num(v * scale), kRowHeight - 8, palette()[p % palette().size()],
          html_escape(stacks[i].label), html_escape(part_names[p]), v, html_escape(unit));
      x += v * scale;
    }
  }
  return out + "</svg>\n";
}

std::string progress_chart(const std::string& id, const std::string& title,
                           const std::vector<ProgressPoint>& points) {
  constexpr int kLeft = 60, kPlotHeight = 220, kWidth = 760, kLabels = 18;
  const int plot_width = kWidth - kLeft - 20;
  int legend_height = 22;
  int top = kTop + legend_height + kLabels;
  int height = top + kPlotHeight + 40;
  double max = 1;
  for (const auto& p : points)
    if (std::isfinite(p.value)) max = std::max(max, p.value);
  double step = nice_step(max * 1.05, 5);
  double axis_max = std::ceil(max * 1.05 / step) * step;
  auto x_of = [&](double i) {
    return kLeft + (points.size() <= 1 ? plot_width / 2.0 : plot_width * i / (points.size() - 1));
  };
  auto y_of = [&](double v) { return top + kPlotHeight - v / axis_max * kPlotHeight; };

  std::string out = open_svg(id, title, kWidth, height);
  for (double t = 0; t <= axis_max + step * 1e-9; t += step)
    out += fmt::format(
        "<line class=\"grid\" x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\"/>"
        "<text class=\"tick\" x=\"{3}\" y=\"{4}\" text-anchor=\"end\">{5}</text>\n",
        kLeft, num(y_of(t)), kLeft + plot_width, kLeft - 6, num(y_of(t) + 4), tick_label(t));
  out += fmt::format(
      "<line class=\"unity\" x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\"><title>1 = the "
      "experiment's own baseline</title></line>\n"
      "<text class=\"axis\" x=\"14\" y=\"{3}\" transform=\"rotate(-90 14 {3})\" "
      "text-anchor=\"middle\">speed-up over its baseline</text>\n"
      "<text class=\"axis\" x=\"{4}\" y=\"{5}\" text-anchor=\"middle\">variants in the order "
      "they were run, by experiment</text>\n",
      kLeft, num(y_of(1)), kLeft + plot_width, top + kPlotHeight / 2, kLeft + plot_width / 2,
      top + kPlotHeight + 30);

  // Experiment boundaries halfway between neighbours, and each experiment's label over its span.
  size_t begin = 0;
  for (size_t i = 1; i <= points.size(); ++i) {
    if (i < points.size() && points[i].experiment == points[begin].experiment) continue;
    if (begin > 0)
      out += fmt::format("<line class=\"boundary\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>\n",
                         num(x_of(begin - 0.5)), top - kLabels, top + kPlotHeight);
    if (!points[begin].experiment.empty())
      out += fmt::format(
          "<text class=\"experiment-label\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
          num((x_of(static_cast<double>(begin)) + x_of(static_cast<double>(i - 1))) / 2), top - 6,
          html_escape(points[begin].experiment));
    begin = i;
  }

  // Running best per track: the largest kept speed-up (or a baseline's 1) so far.
  std::vector<std::string> tracks;
  for (const auto& p : points)
    if (std::find(tracks.begin(), tracks.end(), p.track) == tracks.end()) tracks.push_back(p.track);
  int lx = 8;
  for (size_t t = 0; t < tracks.size(); ++t) {
    const std::string& color = palette()[t % palette().size()];
    std::string path;
    double best = -1;
    for (size_t i = 0; i < points.size(); ++i) {
      const auto& p = points[i];
      if (p.track != tracks[t]) continue;
      bool counts = (p.verdict == "keep" || p.verdict == "baseline") && std::isfinite(p.value);
      if (counts && p.value > best) {
        if (best >= 0) path += fmt::format(" H {} V {}", num(x_of(i)), num(y_of(p.value)));
        else path = fmt::format("M {} {}", num(x_of(i)), num(y_of(p.value)));
        best = p.value;
      }
    }
    if (best >= 0) {
      path += fmt::format(" H {}", num(kLeft + plot_width));
      out += fmt::format(
          "<path class=\"best\" d=\"{}\" stroke=\"{}\"><title>running best, track {}</title>"
          "</path>\n",
          path, color, html_escape(tracks[t]));
    }
    out += fmt::format(
        "<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"{3}\" stroke-width=\"2\"/>"
        "<text class=\"tick\" x=\"{4}\" y=\"{5}\">best: {6}</text>\n",
        lx, kTop + 3, lx + 16, color, lx + 20, kTop + 7, html_escape(tracks[t]));
    lx += 60 + static_cast<int>(tracks[t].size()) * 7;
  }
  for (const auto& [verdict, shape] :
       std::vector<std::pair<std::string, std::string>>{{"keep", "kept"},
                                                        {"discard", "discarded"},
                                                        {"crash", "crashed"}}) {
    out += fmt::format(
        "<circle class=\"point {}\" cx=\"{}\" cy=\"{}\" r=\"4\"/>"
        "<text class=\"tick\" x=\"{}\" y=\"{}\">{}</text>\n",
        verdict, lx + 4, kTop + 3, lx + 12, kTop + 7, shape);
    lx += 30 + static_cast<int>(shape.size()) * 7;
  }
  for (size_t i = 0; i < points.size(); ++i) {
    const auto& p = points[i];
    double value = std::isfinite(p.value) ? p.value : 0;
    out += fmt::format(
        "<circle class=\"point {}\" cx=\"{}\" cy=\"{}\" r=\"{}\"><title>{} ({}): {}</title>"
        "</circle>\n",
        html_escape(p.verdict), num(x_of(static_cast<double>(i))), num(y_of(value)),
        p.verdict == "keep" ? 5 : 4, html_escape(p.label), html_escape(p.verdict),
        std::isfinite(p.value) ? fmt::format("{:.3f}x its baseline", p.value)
                               : std::string("no speed-up (crashed)"));
  }
  return out + "</svg>\n";
}

}  // namespace streammoe::lab
