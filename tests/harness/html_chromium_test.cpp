// index.html as a browser sees it: headless Chromium parses the report and the DOM it builds
// holds the results tables and every chart with its bars, whiskers and points.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "harness/mock_executor.h"
#include "harness/runner.h"
#include "lab_test_util.h"
#include "report/exporter.h"

namespace streammoe::lab {
namespace {

using ::testing::HasSubstr;
using testing::count_of;
using testing::TempDir;

TEST(HtmlInChromium, TableAndChartsArePresent) {
  TempDir dir;
  testing::make_project(dir.path());
  SwitchCatalog catalog = testing::fixture_catalog();
  Store store(dir / "lab.db");
  // Two experiments on one track: one variant kept, one discarded, one crashing.
  for (int e = 0; e < 2; ++e) {
    testing::write_text(dir / "experiments/e.yaml",
                        fmt::format("name: study-{}\ntrack: io\nmodel: models/tiny\nworkload: "
                                    "{{prompt: hi}}\nrepeats: 3\nbaseline: base\nvariants:\n"
                                    "  - name: base\n  - mmap\n  - name: naive\n    switches: "
                                    "{{dequant: naive}}\n  - name: broken\n    switches: {{k: 3}}\n",
                                    e));
    SpecOptions options;
    options.catalog = &catalog;
    ExperimentSpec spec = load_experiment(dir / "experiments/e.yaml", options);
    int call = 0;
    MockExecutor executor([&](const Command& c) {
      if (MockExecutor::flag(c, "k") == "3") {
        MockReply crash;
        crash.result.kind = ExitKind::kSignaled;
        crash.result.signal = 6;
        return crash;
      }
      double tok_s = MockExecutor::flag(c, "io") == "mmap" ? 120 + 10 * e : 100;
      if (MockExecutor::flag(c, "dequant") == "naive") tok_s = 95;
      MockReply reply = MockExecutor::ok_reply();
      reply.metrics = MockExecutor::engine_metrics(tok_s * (1 + 0.003 * (call++ % 3)));
      return reply;
    });
    RunnerOptions o;
    o.engine = "/opt/fake/streammoe";
    o.source_dir = dir.path();
    o.build_root = dir / "builds";
    o.cache_dir = dir / "cache";
    Runner(spec, store, executor, o).run();
  }
  testing::write_text(dir / "report/index.html", HtmlExporter().render(load_results(store)));

  std::string why;
  std::string dom = testing::render_dom(dir / "report/index.html", why);
  if (dom.empty()) GTEST_SKIP() << "Chromium could not render: " << why;
  // Tables: one per experiment, a header row and four variant rows each.
  EXPECT_EQ(count_of(dom, "<table class=\"results\">"), 2);
  EXPECT_EQ(count_of(dom, "<tr class=\"keep\">"), 2);
  EXPECT_EQ(count_of(dom, "<tr class=\"crash\">"), 2);
  EXPECT_THAT(dom, HasSubstr("<td>mmap</td>"));
  // Charts: the progress plot plus tok/s and phase charts per experiment.
  EXPECT_EQ(count_of(dom, "<svg class=\"chart\""), 5);
  EXPECT_THAT(dom, HasSubstr("id=\"progress\""));
  EXPECT_THAT(dom, HasSubstr("id=\"tok-s-2\""));
  EXPECT_THAT(dom, HasSubstr("id=\"phases-2\""));
  // Bars for the 3 variants with runs in each experiment, CI whiskers, the baseline line.
  EXPECT_EQ(count_of(dom, "<rect class=\"bar "), 6);
  EXPECT_EQ(count_of(dom, "<g class=\"ci\">"), 6);
  EXPECT_EQ(count_of(dom, "class=\"reference\""), 2);
  // 7 phases for 3 variants in 2 experiments.
  EXPECT_EQ(count_of(dom, "<rect class=\"segment\""), 42);
  // Progress: 8 points (plus 3 legend markers), kept / discarded / crashed, a running-best line.
  EXPECT_EQ(count_of(dom, "<circle class=\"point"), 11);
  EXPECT_EQ(count_of(dom, "<circle class=\"point keep\""), 3);
  EXPECT_EQ(count_of(dom, "<path class=\"best\""), 1);
  // The browser saw well-formed markup: every chart closed inside the body.
  EXPECT_EQ(count_of(dom, "</svg>"), 5);
  EXPECT_THAT(dom, HasSubstr("</body></html>"));
}

}  // namespace
}  // namespace streammoe::lab
