// Exporters over a database filled by the mock runner: the markdown table shows only the
// columns that vary, the TSV has the reference system's columns, the HTML carries the table and
// the three SVG charts; terminal views list, show and compare.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include <fmt/format.h>

#include "harness/mock_executor.h"
#include "harness/runner.h"
#include "lab_fixture.h"
#include "report/exporter.h"
#include "report/svg_charts.h"
#include "report/terminal.h"

namespace streammoe::lab {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::TempDir;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

class ReportTest : public testing::LabProjectTest {
 protected:
  void SetUp() override {
    LabProjectTest::SetUp();
    store_ = std::make_unique<Store>(dir_ / "lab.db");
    run("first", "io", "mmap", 130);
    run("second", "io", "mmap", 101);
  }

  // An experiment with a baseline at 100 tok/s and one variant at `fast` tok/s.
  void run(const std::string& name, const std::string& key, const std::string& value, double fast) {
    testing::write_text(dir_ / "experiments/e.yaml",
                        fmt::format("name: {}\ntrack: io\nmodel: models/tiny\nworkload: {{prompt: "
                                    "hi}}\nrepeats: 4\nbaseline: base\nvariants:\n  - name: base\n"
                                    "  - name: fast\n    description: the fast one\n    switches: "
                                    "{{{}: {}}}\n",
                                    name, key, value));
    ExperimentSpec spec = load_file();
    int call = 0;
    MockExecutor executor([&](const Command& c) {
      MockReply reply = MockExecutor::ok_reply();
      double tok_s = MockExecutor::flag(c, key).empty() ? 100 : fast;
      reply.metrics = MockExecutor::engine_metrics(tok_s * (1 + 0.002 * (call++ % 3)));
      return reply;
    });
    Runner(spec, *store_, executor, options()).run();
  }

  std::unique_ptr<Store> store_;
};

TEST_F(ReportTest, MarkdownShowsOnlyColumnsThatVary) {
  LabResults results = load_results(*store_);
  ASSERT_EQ(results.experiments.size(), 2u);
  ResultsTable table = results_table(results.experiments[0]);
  // io differs between the two variants; model, runs, TTFT, memory and quality do not.
  EXPECT_THAT(table.headers, ::testing::ElementsAre("variant", "io", "tok/s [95% CI]",
                                                    "speed-up [95% CI]", "verdict", "why"));
  ASSERT_EQ(table.cells.size(), 2u);
  EXPECT_EQ(table.cells[0][0], "base");
  EXPECT_EQ(table.cells[0][1], "pread");  // the engine default, from the full option set
  EXPECT_EQ(table.cells[1][1], "mmap");
  EXPECT_THAT(table.cells[1][2], ::testing::MatchesRegex("130\\.[0-9]+ \\[1[23][0-9]\\.[0-9]+, 1[23][0-9]\\.[0-9]+\\]"));
  EXPECT_EQ(table.cells[0][4], "baseline");
  EXPECT_EQ(table.cells[1][4], "keep");

  std::string md = MarkdownExporter().render(results);
  auto lines = lines_of(md);
  EXPECT_THAT(md, HasSubstr("## first (#1)"));
  EXPECT_THAT(md, HasSubstr("## second (#2)"));
  EXPECT_THAT(md, HasSubstr("| variant | io | tok/s [95% CI] | speed-up [95% CI] | verdict | why |"));
  EXPECT_THAT(md, HasSubstr("| --- | --- | ---: | ---: | --- | --- |"));
  EXPECT_THAT(md, HasSubstr("| fast | mmap | 130."));
  EXPECT_THAT(md, HasSubstr("Environment: commit"));
  // 101 vs 100 with 0.2% noise is significant but below the default threshold of 1.0? No:
  // the default min_speedup is 1.0, so the second experiment's variant is kept too.
  EXPECT_THAT(md, HasSubstr("| fast | mmap | 101."));
}

TEST_F(ReportTest, TsvHasTheReferenceColumns) {
  std::string tsv = TsvExporter().render(load_results(*store_));
  auto lines = lines_of(tsv);
  ASSERT_EQ(lines.size(), 5u);  // header + 2 experiments x 2 variants
  EXPECT_EQ(lines[0], "commit\tmodel\tparams_B\tactive_B\ttok_sec\tttft_ms\tmem_gb\tstatus\tdescription");
  std::vector<std::string> fields;
  std::istringstream row(lines[2]);
  for (std::string f; std::getline(row, f, '\t');) fields.push_back(f);
  ASSERT_EQ(fields.size(), 9u);
  EXPECT_EQ(fields[1], "models/tiny");
  EXPECT_EQ(fields[2], "0.0012");  // 1.2M params from the mock
  EXPECT_EQ(fields[3], "0.0003");
  EXPECT_THAT(fields[4], ::testing::StartsWith("130."));
  EXPECT_EQ(fields[5], "12.5");
  EXPECT_EQ(fields[6], "0.120");  // 123 MB
  EXPECT_EQ(fields[7], "keep");
  EXPECT_EQ(fields[8], "first/fast: the fast one");
}

TEST_F(ReportTest, HtmlHasTableAndThreeKindsOfChart) {
  std::string html = HtmlExporter().render(load_results(*store_));
  EXPECT_THAT(html, HasSubstr("<!DOCTYPE html>"));
  EXPECT_THAT(html, HasSubstr("<table class=\"results\">"));
  EXPECT_THAT(html, HasSubstr("<svg class=\"chart\" id=\"progress\""));
  EXPECT_THAT(html, HasSubstr("<svg class=\"chart\" id=\"tok-s-1\""));
  EXPECT_THAT(html, HasSubstr("<svg class=\"chart\" id=\"phases-1\""));
  EXPECT_THAT(html, HasSubstr("class=\"bar keep\""));
  EXPECT_THAT(html, HasSubstr("class=\"ci\""));
  EXPECT_THAT(html, HasSubstr("class=\"best\""));  // the running best line
  EXPECT_THAT(html, Not(HasSubstr("<script")));    // self-contained, static
  EXPECT_THAT(html, Not(HasSubstr("http://cdn")));
}

TEST_F(ReportTest, TerminalViews) {
  std::string list = list_view(*store_);
  EXPECT_THAT(list, HasSubstr("id  name"));
  EXPECT_THAT(list, HasSubstr("first"));
  EXPECT_THAT(list, HasSubstr("8/8"));
  std::string show = show_view(*store_, 1);
  EXPECT_THAT(show, HasSubstr("experiment #1 first (complete)"));
  EXPECT_THAT(show, HasSubstr("| fast | mmap |"));
  std::string compare = compare_view(*store_, 1, 2);
  EXPECT_THAT(compare, HasSubstr("A = #1 first, B = #2 second"));
  EXPECT_THAT(compare, ::testing::ContainsRegex("fast +models/tiny +130\\.[0-9]+ +101\\.[0-9]+ +0\\.7"));
}

TEST_F(ReportTest, CompareMatchesVariantsByOptionSetAndConditionsNotByName) {
  // Same switches under other names: `pread` is the engine default (= base), `mapped` is mmap.
  auto add = [&](const std::string& name, const std::string& cache) {
    testing::write_text(dir_ / "experiments/r.yaml",
                        "name: " + name + "\nmodel: models/tiny\nworkload: {prompt: hi}\n"
                        "repeats: 3\ncache: " + cache + "\nbaseline: pread\nvariants:\n"
                        "  - {name: pread, switches: {io: pread}}\n"
                        "  - {name: mapped, switches: {io: mmap}}\n"
                        "  - {name: naive, switches: {dequant: naive}}\n");
    SpecOptions spec_options;
    spec_options.catalog = &catalog_;
    ExperimentSpec spec = load_experiment(dir_ / "experiments/r.yaml", spec_options);
    MockExecutor executor([&](const Command& c) {
      MockReply reply = MockExecutor::ok_reply();
      reply.metrics = MockExecutor::engine_metrics(MockExecutor::flag(c, "io") == "mmap" ? 120 : 100);
      return reply;
    });
    Runner(spec, *store_, executor, options()).run();
  };
  add("renamed", "warm");  // #3
  add("cold", "cold");     // #4
  std::string text = compare_view(*store_, 1, 3);
  EXPECT_THAT(text, ::testing::ContainsRegex("base = pread +models/tiny +100\\.[0-9]+ +100\\.00"));
  EXPECT_THAT(text, ::testing::ContainsRegex("fast = mapped +models/tiny +130\\.[0-9]+ +120\\.00 +0\\.9"));
  EXPECT_THAT(text, Not(HasSubstr("naive")));  // its options are in A under no name
  EXPECT_THAT(text, Not(HasSubstr("conditions differ")));

  std::string cold = compare_view(*store_, 3, 4);
  EXPECT_THAT(cold, HasSubstr("conditions differ: cache: warm vs cold"));
  EXPECT_THAT(cold, HasSubstr("no variant compared: the experiments ran under different conditions"));
  std::string anyway = compare_view(*store_, 3, 4, /*any_conditions=*/true);
  EXPECT_THAT(anyway, HasSubstr("conditions differ: cache: warm vs cold"));
  EXPECT_THAT(anyway, ::testing::ContainsRegex("naive +models/tiny +100\\.00 +100\\.00 +1\\.000"));
}

TEST_F(ReportTest, FlatExportHasARowPerRunWithItsEnvironmentAndTheViewsQueryTheSame) {
  LabResults results = load_results(*store_);
  ASSERT_EQ(results.runs.rows.size(), 16u);  // 2 experiments x 2 variants x 4 repeats
  std::string tsv = RunsTsvExporter().render(results);
  auto lines = lines_of(tsv);
  ASSERT_EQ(lines.size(), 17u);
  std::vector<std::string> header;
  std::istringstream fields(lines[0]);
  for (std::string f; std::getline(fields, f, '\t');) header.push_back(f);
  for (const char* column : {"experiment", "variant", "options_json", "model", "repeat", "status",
                             "decode_tok_s", "expert_compute_ms", "env_cpu_model",
                             "env_git_commit", "env_kernel", "env_disk_rand_gbps"})
    EXPECT_THAT(header, ::testing::Contains(column));
  EXPECT_THAT(header, Not(::testing::Contains("metrics_json")));
  for (size_t i = 1; i < lines.size(); ++i)
    EXPECT_EQ(std::count(lines[i].begin(), lines[i].end(), '\t') + 1, static_cast<long>(header.size()));
  EXPECT_THAT(lines[1], ::testing::StartsWith("1\tfirst\tio\t\tbase\t1\t"));
  // The same rows straight from SQL.
  EXPECT_EQ(to_int(store_->query("SELECT COUNT(*) FROM runs_flat")[0].values[0]), 16);
  EXPECT_EQ(to_int(store_->query("SELECT COUNT(*) FROM runs_flat WHERE variant = 'fast' AND "
                                 "experiment = 'second' AND decode_tok_s > 100")[0].values[0]), 4);
  auto verdicts = store_->query("SELECT experiment, variant, verdict FROM verdicts_flat ORDER BY "
                                "experiment, variant");
  ASSERT_EQ(verdicts.size(), 4u);
  EXPECT_EQ(to_text(verdicts[0].at("variant")), "base");
  EXPECT_EQ(to_text(verdicts[1].at("verdict")), "keep");
}

TEST_F(ReportTest, ProgressIsSpeedUpOverEachExperimentsOwnBaseline) {
  std::string html = HtmlExporter().render(load_results(*store_));
  auto start = html.find("<svg class=\"chart\" id=\"progress\"");
  std::string svg = html.substr(start, html.find("</svg>", start) - start);
  EXPECT_THAT(svg, HasSubstr("speed-up over its baseline"));
  EXPECT_EQ(testing::count_of(svg, "class=\"boundary\""), 1);  // between the two experiments
  EXPECT_THAT(svg, HasSubstr(">first (#1)</text>"));
  EXPECT_THAT(svg, HasSubstr(">second (#2)</text>"));
  EXPECT_THAT(svg, HasSubstr("first/base (baseline): 1.000x its baseline"));
  EXPECT_THAT(svg, ::testing::ContainsRegex("first/fast \\(keep\\): 1\\.30[0-9]x its baseline"));
  EXPECT_THAT(svg, ::testing::ContainsRegex("second/fast \\(keep\\): 1\\.01[0-9]x its baseline"));
  EXPECT_THAT(svg, Not(HasSubstr("tok/s</title>")));
}

TEST_F(ReportTest, TelemetryColumnsAppearWhereTheyVary) {
  testing::write_text(dir_ / "experiments/t.yaml",
                      "name: cache\nmodel: models/tiny\nworkload: {prompt: hi}\nrepeats: 2\n"
                      "baseline: none\nvariants: [{name: none}, {name: lru, switches: "
                      "{expert-cache: lru}}]\n");
  SpecOptions spec_options;
  spec_options.catalog = &catalog_;
  ExperimentSpec spec = load_experiment(dir_ / "experiments/t.yaml", spec_options);
  MockExecutor executor([](const Command& c) {
    MockReply reply = MockExecutor::ok_reply();
    reply.metrics = MockExecutor::engine_metrics(100);
    bool lru = MockExecutor::flag(c, "expert-cache") == "lru";
    (*reply.metrics)["routing"] = {
        {"routing_tokens", 24},
        {"expert_io", {{"bytes_read", 36e6}, {"bytes_from_disk", lru ? 3.6e6 : 36e6}}},
        {"expert_cache", {{"kind", lru ? "lru" : "none"}, {"hit_rate", lru ? 0.9 : 0.0}}},
        // The engine scores a predictor only when there is one; kind none writes zeros.
        {"predictor", {{"kind", lru ? "temporal" : "none"}, {"predicted_experts", lru ? 40 : 0},
                       {"correct", lru ? 30 : 0}, {"precision", lru ? 0.75 : 0.0}, {"recall", lru ? 0.625 : 0.0}}}};
    return reply;
  });
  RunnerSummary summary = Runner(spec, *store_, executor, options()).run();
  ResultsTable table = results_table(load_results(*store_, {summary.experiment_id}).experiments[0]);
  EXPECT_THAT(table.headers, ::testing::Contains("disk MB/tok"));
  EXPECT_THAT(table.headers, ::testing::Contains("disk GB/s"));
  EXPECT_THAT(table.headers, ::testing::Contains("hit rate"));
  EXPECT_THAT(table.headers, Not(::testing::Contains("roofline")));  // no machine profile here
  auto at = [&](const std::string& header, size_t row) {
    auto it = std::find(table.headers.begin(), table.headers.end(), header);
    return table.cells[row][it - table.headers.begin()];
  };
  EXPECT_EQ(at("disk MB/tok", 0), "1.500");
  EXPECT_EQ(at("disk MB/tok", 1), "0.150");
  EXPECT_EQ(at("hit rate", 0), "");  // no cache
  EXPECT_EQ(at("hit rate", 1), "0.900");
  EXPECT_EQ(at("pred. precision", 0), "");  // no predictor
  EXPECT_EQ(at("pred. precision", 1), "0.750");
  EXPECT_EQ(at("pred. recall", 1), "0.625");
  auto stored = store_->query("SELECT v.name, m.predictor_precision, m.predictor_recall FROM metrics m JOIN runs r "
                              "ON r.id = m.run_id JOIN variants v ON v.id = r.variant_id WHERE r.experiment_id = ?",
                              {summary.experiment_id});
  ASSERT_EQ(stored.size(), 4u);
  for (const auto& row : stored) {
    if (to_text(row.at("name")) == "none") {
      EXPECT_TRUE(is_null(row.at("predictor_precision")));
      EXPECT_TRUE(is_null(row.at("predictor_recall")));
    } else {
      EXPECT_DOUBLE_EQ(to_double(row.at("predictor_precision")), 0.75);
      EXPECT_DOUBLE_EQ(to_double(row.at("predictor_recall")), 0.625);
    }
  }
}

TEST(SvgCharts, EscapesAndScales) {
  EXPECT_EQ(html_escape("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
  EXPECT_DOUBLE_EQ(nice_step(100, 5), 20);
  EXPECT_DOUBLE_EQ(nice_step(7, 5), 2);
  EXPECT_DOUBLE_EQ(nice_step(0.3, 5), 0.1);
  std::string svg = bar_chart("c", "t<1>", {{"v", 10, 9, 11, "keep"}}, 8, "tok/s");
  EXPECT_THAT(svg, HasSubstr("<title>t&lt;1&gt;</title>"));
  EXPECT_THAT(svg, HasSubstr("class=\"reference\""));
}

}  // namespace
}  // namespace streammoe::lab
