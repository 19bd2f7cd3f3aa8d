// Routing traces: what the recorder writes loads back; anything it would not write is refused
// naming the file and line; a run longer than the trace stops with an Error, not a wrap-around.
#include "engine/models/routing_trace.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <functional>

#include "engine/util/error.h"
#include "tests/common/error_of.h"
#include "tests/common/temp_dir.h"

namespace streammoe {
namespace {

using ::testing::HasSubstr;
using streammoe::testing::error_of;

ModelConfig two_layers_four_experts() {
  ModelConfig c;
  c.num_layers = 2;
  c.num_experts = 4;
  c.experts_per_tok = 2;
  return c;
}

Routing routing(std::vector<int32_t> experts) {
  Routing r;
  r.weights.assign(experts.size(), 1.0f / static_cast<float>(experts.size()));
  r.experts = std::move(experts);
  return r;
}

class RoutingTraceTest : public ::testing::Test {
 protected:
  static constexpr const char* kHeader = R"({"routing_trace": 1, "layers": 2, "experts": 4, "top_k": 2, "model": "m"})";

  std::filesystem::path write(const std::string& name, const std::string& text) {
    const auto path = dir_.path() / name;
    std::ofstream(path) << text;
    return path;
  }
  // The error of loading a trace whose second line is `line`; it must name the file and line 2.
  std::string load_error(const std::string& line) {
    const auto path = write("bad.jsonl", std::string(kHeader) + "\n" + line + "\n");
    const std::string message = error_of([&] { RoutingTrace::load(path); });
    EXPECT_THAT(message, HasSubstr(path.string() + ":2: ")) << line;
    return message;
  }

  testing::TempDir dir_{"routing_trace"};
};

TEST_F(RoutingTraceTest, RecordedTraceLoadsBack) {
  const auto path = dir_.path() / "t.jsonl";
  {
    RoutingTraceWriter writer(path, two_layers_four_experts(), "m");
    writer.add_token(0, {routing({0, 3}), routing({1, 2})});
    writer.add_token(1, {routing({2, 1}), routing({3, 0})});
    writer.close();
  }
  const RoutingTrace trace = RoutingTrace::load(path);
  EXPECT_EQ(trace.tokens(), 2);
  EXPECT_EQ(trace.layers(), 2);
  EXPECT_EQ(trace.top_k(), 2);
  EXPECT_EQ(trace.at(1, 0).experts, (std::vector<int32_t>{2, 1}));
  EXPECT_EQ(trace.at(0, 1).experts, (std::vector<int32_t>{1, 2}));
}

TEST_F(RoutingTraceTest, HeaderTopKIsTheRunsKNotTheConfigs) {
  const auto path = dir_.path() / "k3.jsonl";
  {
    RoutingTraceWriter writer(path, two_layers_four_experts(), "m");  // config K = 2, run with --k 3
    writer.add_token(0, {routing({0, 1, 2}), routing({1, 2, 3})});
    writer.close();
  }
  EXPECT_EQ(RoutingTrace::load(path).top_k(), 3);
  // A smaller --k too: a replay of this trace may cut it further, never widen it.
  const auto one = dir_.path() / "k1.jsonl";
  {
    RoutingTraceWriter writer(one, two_layers_four_experts(), "m");
    writer.add_token(0, {routing({2}), routing({3})});
    writer.close();
  }
  EXPECT_EQ(RoutingTrace::load(one).top_k(), 1);
}

TEST_F(RoutingTraceTest, RunPastTheEndOfTheTraceIsAnError) {
  const auto path = write("short.jsonl", std::string(kHeader) + "\n" +
                                             R"({"t": 0, "layer": 0, "experts": [0, 1], "weights": [0.5, 0.5]})" + "\n");
  const RoutingTrace trace = RoutingTrace::load(path);
  EXPECT_EQ(trace.at(0, 0).experts, (std::vector<int32_t>{0, 1}));
  EXPECT_THAT(error_of([&] { trace.at(1, 0); }),
              HasSubstr(path.string() + ": the run reached token 1, but the trace holds only 1 tokens"));
  EXPECT_THAT(error_of([&] { trace.at(0, 1); }), HasSubstr("no routing recorded for token 0 at layer 1"));
  EXPECT_THAT(error_of([&] { trace.at(0, 2); }), HasSubstr("layer 2 is outside the trace's 2 layers"));
}

TEST_F(RoutingTraceTest, RefusesExpertsOutsideTheModelRepeatedOrTooMany) {
  EXPECT_THAT(load_error(R"({"t": 0, "layer": 0, "experts": [2147483648, 1], "weights": [0.5, 0.5]})"),
              HasSubstr("expert 2147483648 out of range [0, 3]"));
  EXPECT_THAT(load_error(R"({"t": 0, "layer": 0, "experts": [4, 1], "weights": [0.5, 0.5]})"),
              HasSubstr("expert 4 out of range"));
  EXPECT_THAT(load_error(R"({"t": 0, "layer": 0, "experts": [-1, 1], "weights": [0.5, 0.5]})"),
              HasSubstr("expert -1 out of range"));
  EXPECT_THAT(load_error(R"({"t": 0, "layer": 0, "experts": [2, 2], "weights": [0.5, 0.5]})"),
              HasSubstr("token 0 layer 0 lists expert 2 twice"));
  EXPECT_THAT(load_error(R"({"t": 0, "layer": 0, "experts": [0, 1, 2], "weights": [0.3, 0.3, 0.4]})"),
              HasSubstr("routes to 3 experts, more than the header's top_k 2"));
  EXPECT_THAT(load_error(R"({"t": 0, "layer": 0, "experts": [0, 1], "weights": [0.5]})"),
              HasSubstr("experts and weights must be non-empty lists of equal length"));
  EXPECT_THAT(load_error(R"({"t": 0, "layer": 0, "experts": [0, 1], "weights": [0.5, 1e300]})"),
              HasSubstr("is not a finite float"));
}

TEST_F(RoutingTraceTest, RefusesTokenNumbersItWouldHaveToAllocateFor) {
  EXPECT_THAT(load_error(R"({"t": 1000000000, "layer": 0, "experts": [0, 1], "weights": [0.5, 0.5]})"),
              HasSubstr("t 1000000000 out of range [0, 0]"));
  EXPECT_THAT(load_error(R"({"t": 0, "layer": 99, "experts": [0, 1], "weights": [0.5, 0.5]})"),
              HasSubstr("layer 99 out of range [0, 1]"));
  EXPECT_THAT(load_error(R"({"t": -1, "layer": 0, "experts": [0, 1], "weights": [0.5, 0.5]})"),
              HasSubstr("t -1 out of range"));
  const std::string row = R"({"t": 0, "layer": 0, "experts": [0, 1], "weights": [0.5, 0.5]})";
  const auto path = write("dup.jsonl", std::string(kHeader) + "\n" + row + "\n" + row + "\n");
  EXPECT_THAT(error_of([&] { RoutingTrace::load(path); }), HasSubstr(":3: token 0 layer 0 appears twice"));
}

TEST_F(RoutingTraceTest, RefusesHeadersThatSizeTooMuch) {
  const auto huge = write("huge.jsonl", R"({"routing_trace": 1, "layers": 1000000000, "experts": 4, "top_k": 2})"
                                        "\n");
  EXPECT_THAT(error_of([&] { RoutingTrace::load(huge); }), HasSubstr("huge.jsonl:1: layers 1000000000 out of range"));
  const auto empty = write("empty.jsonl", "");
  EXPECT_THAT(error_of([&] { RoutingTrace::load(empty); }), HasSubstr("empty.jsonl: empty file"));
}

TEST_F(RoutingTraceTest, WriterReportsAFullDisk) {
  if (!std::filesystem::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  RoutingTraceWriter writer("/dev/full", two_layers_four_experts(), "m");
  EXPECT_THAT(error_of([&] { writer.add_token(0, {routing({0, 1}), routing({2, 3})}); }),
              HasSubstr("/dev/full: write failed"));
}

}  // namespace
}  // namespace streammoe
