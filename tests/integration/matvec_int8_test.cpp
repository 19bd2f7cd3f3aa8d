// --matvec int8 end to end on the trained tiny model packed at 4 and 2 bits: the logits stay close
// to the f32 path (the reference), greedy continuations follow it wherever f32's choice is not a
// near-tie, batched prefill gives the same logits as token by token, dense weights are untouched,
// and f32 stays the default, bit for bit. Also: the switch in `options --json`, a bad value's
// error, and the int8 kernel ISA recorded in --metrics-json.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_test_util.h"
#include "engine/ops/isa.h"
#include "engine/util/npy.h"
#include "tests/common/temp_dir.h"

namespace streammoe {
namespace {

namespace fs = std::filesystem;
using namespace cli_test;
using ::testing::HasSubstr;

// Why these bounds. The int8 path replaces each activation x_c by its block's code, off by at
// most d/2, d = max|block| / 127 (activation_quant.h): an RMS error of max / 440 per value, about
// 1% of a heavy-tailed block's RMS. The weights' own quantisation is far coarser (4 bits: 15
// steps over a group's range; 2 bits: 3), so on top of f32 the int8 error must stay a fraction of
// what packing the weights already did to the logits. Measured on held-out text: the int8 path
// moves the logits by a relative RMS of 1.3e-2 (4-bit) and 2.4e-2 (2-bit), 0.22 and 0.10 of the
// packing's own 5.6e-2 and 0.24 against the bf16 checkpoint. Bounds: at most half the packing's
// error and at most 5e-2 absolute; a wrong scale, a misordered code or a lost bias moves the
// logits by tens of percent and fails both. KL: the target for the trained model (mean
// KL added <= 0.005; measured 3.6e-5 and 4.1e-4), and top-1 agreement >= 97% (measured 100%, 99.6%).
constexpr double kMaxRelativeRms = 5e-2;
constexpr double kMaxShareOfPackingError = 0.5;
constexpr double kMaxKlMean = 0.005;
constexpr double kMinTop1 = 0.97;

struct Stats {
  double relative_rms = 0.0, max_abs = 0.0;
};

Stats compare(const NpyArray& got, const NpyArray& ref) {
  EXPECT_EQ(got.shape, ref.shape);
  double diff = 0.0, norm = 0.0, max_abs = 0.0;
  for (size_t i = 0; i < std::min(got.f32.size(), ref.f32.size()); ++i) {
    const double d = static_cast<double>(got.f32[i]) - ref.f32[i];
    diff += d * d;
    norm += static_cast<double>(ref.f32[i]) * ref.f32[i];
    max_abs = std::max(max_abs, std::abs(d));
  }
  return {std::sqrt(diff / norm), max_abs};
}

class MatvecInt8 : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<testing::TempDir>("matvec-int8");
    for (int bits : {4, 2}) {
      const CommandResult pack = run_streammoe("pack --hf " + kTiny.string() + " --out " + packed(bits).string() +
                                               " --bits " + std::to_string(bits));
      ASSERT_EQ(pack.exit_code, 0) << pack.output;
      const CommandResult base = eval(packed(bits), "", name(bits, "f32"));
      ASSERT_EQ(base.exit_code, 0) << base.output;
    }
    const CommandResult bf16 = eval(kTiny, "", "bf16.npy");
    ASSERT_EQ(bf16.exit_code, 0) << bf16.output;
  }
  static void TearDownTestSuite() { dir_.reset(); }

  static fs::path packed(int bits) { return dir_->path() / ("p" + std::to_string(bits)); }
  static std::string name(int bits, const std::string& tag) { return "q" + std::to_string(bits) + "_" + tag + ".npy"; }
  static fs::path file(const std::string& name) { return dir_->path() / name; }
  static CommandResult eval(const fs::path& model, const std::string& switches, const std::string& out,
                            const std::string& input = "") {
    const std::string in =
        input.empty() ? "--text-file " + (kTiny / "heldout.txt").string() + " --max-tokens 256" : input;
    return run_streammoe("eval --model " + model.string() + " " + in + " --dump-logits " + file(out).string() + " " +
                         switches);
  }
  static std::unique_ptr<testing::TempDir> dir_;
};
std::unique_ptr<testing::TempDir> MatvecInt8::dir_;

TEST_F(MatvecInt8, LogitsStayCloseToTheF32Path) {
  for (int bits : {4, 2}) {
    const std::string ref = "--ref-logits " + file(name(bits, "f32")).string() + " --json";
    const CommandResult r = run_streammoe("eval --model " + packed(bits).string() + " --text-file " +
                                          (kTiny / "heldout.txt").string() + " --max-tokens 256 --dump-logits " +
                                          file(name(bits, "int8")).string() + " --matvec int8 " + ref,
                                          Capture::kBoth);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
    EXPECT_EQ(j["options"]["matvec"], "int8");
    const NpyArray f32 = read_npy(file(name(bits, "f32"))), int8 = read_npy(file(name(bits, "int8")));
    const Stats s = compare(int8, f32), packing = compare(f32, read_npy(file("bf16.npy")));
    std::printf(
        "[int8] %d-bit experts: logits relative RMS error %.2e (packing's own: %.2e), max abs %.3f; kld_mean %.2e "
        "top1 %.4f\n",
        bits, s.relative_rms, packing.relative_rms, s.max_abs, j["kld_mean"].get<double>(),
        j["top1_agree"].get<double>());
    EXPECT_GT(s.relative_rms, 0.0) << bits << "-bit: int8 gave the f32 logits: the switch did nothing";
    EXPECT_LT(s.relative_rms, kMaxRelativeRms) << bits << "-bit";
    EXPECT_LT(s.relative_rms, kMaxShareOfPackingError * packing.relative_rms) << bits << "-bit";
    EXPECT_LT(j["kld_mean"].get<double>(), kMaxKlMean) << bits << "-bit";
    EXPECT_GE(j["top1_agree"].get<double>(), kMinTop1) << bits << "-bit";
  }
}

TEST_F(MatvecInt8, F32IsTheDefaultBitForBit) {
  ASSERT_EQ(eval(packed(4), "--matvec f32", "q4_explicit_f32.npy").exit_code, 0);
  EXPECT_TRUE(read_bytes(file("q4_explicit_f32.npy")) == read_bytes(file(name(4, "f32"))));
}

TEST_F(MatvecInt8, BatchedPrefillGivesTheSameLogitsAsTokenByToken) {
  for (int bits : {4, 2}) {
    ASSERT_EQ(eval(packed(bits), "--matvec int8", name(bits, "int8_c1")).exit_code, 0);
    ASSERT_EQ(eval(packed(bits), "--matvec int8 --prefill-chunk 16", name(bits, "int8_c16")).exit_code, 0);
    ASSERT_EQ(eval(packed(bits), "--matvec int8 --prefill-chunk 256 --threads 1", name(bits, "int8_c256")).exit_code,
              0);
    const std::string one = read_bytes(file(name(bits, "int8_c1")));
    ASSERT_GT(one.size(), 100000u);
    EXPECT_TRUE(one == read_bytes(file(name(bits, "int8_c16")))) << bits << "-bit";
    EXPECT_TRUE(one == read_bytes(file(name(bits, "int8_c256")))) << bits << "-bit";
  }
}

// The HF checkpoint's weights are all bf16: int8 has nothing to quantise and changes no bit.
TEST_F(MatvecInt8, DenseWeightsKeepTheF32Kernels) {
  const std::string ids = "--ids 5,17,3,9,200,11,42";
  ASSERT_EQ(eval(kTiny, "", "hf_f32.npy", ids).exit_code, 0);
  ASSERT_EQ(eval(kTiny, "--matvec int8", "hf_int8.npy", ids).exit_code, 0);
  EXPECT_TRUE(read_bytes(file("hf_f32.npy")) == read_bytes(file("hf_int8.npy")));
}

// Greedy continuations of the reference prompts (32 tokens each) follow f32's token for token,
// except after a step where f32's own top two logits are within kNearTie: there int8's logit error
// may pick the other, and everything after differs legitimately. On 255 held-out positions of the
// 4-bit model, int8 changes the gap between f32's top two logits by 0.07 RMS and 0.76 at worst;
// kNearTie = 1.0 is above that worst case, so the test fails if int8 departs where f32 decides
// clearly. (Measured: all 5 continuations identical.)
TEST_F(MatvecInt8, GreedyContinuationsFollowTheF32Path) {
  constexpr double kNearTie = 1.0;
  std::ifstream in(kSource / "tests/fixtures/reference/tiny-qwen35moe/prompts.json");
  const auto prompts = nlohmann::json::parse(in)["prompts"];
  ASSERT_GE(prompts.size(), 5u);
  int identical = 0;
  for (const auto& p : prompts) {
    std::string ids;
    for (int64_t id : p["prompt_ids"]) ids += (ids.empty() ? "" : ",") + std::to_string(id);
    const auto generate = [&](const std::string& path) {
      const CommandResult r = run_streammoe("generate --model " + packed(4).string() + " --ids " + ids +
                                                " --tokens 32 --temperature 0 --ignore-eos --print-ids --matvec " + path,
                                            Capture::kBoth);
      EXPECT_EQ(r.exit_code, 0) << r.output;
      std::vector<int64_t> out;
      std::stringstream line(r.output);
      for (std::string item; std::getline(line, item, ',');) out.push_back(std::stoll(item));
      return out;
    };
    const std::vector<int64_t> f32 = generate("f32"), int8 = generate("int8");
    ASSERT_EQ(f32.size(), 32u);
    ASSERT_EQ(int8.size(), 32u);
    const size_t split = std::mismatch(f32.begin(), f32.end(), int8.begin()).first - f32.begin();
    if (split == f32.size()) {
      ++identical;
      continue;
    }
    // f32's logits at the step where the two part: prompt + f32's tokens before it.
    std::string all = ids;
    for (size_t i = 0; i < split; ++i) all += "," + std::to_string(f32[i]);
    const std::string out = "tie_" + p["name"].get<std::string>() + ".npy";
    ASSERT_EQ(eval(packed(4), "", out, "--ids " + all).exit_code, 0);
    const NpyArray logits = read_npy(file(out));
    const int64_t vocab = logits.shape.at(1), last = logits.shape.at(0) - 1;
    const float* row = logits.f32.data() + last * vocab;
    const double margin = row[f32[split]] - row[int8[split]];
    std::printf("[int8] %s: departs from f32 at step %zu, where f32's margin over int8's token is %.4f\n",
                p["name"].get<std::string>().c_str(), split, margin);
    EXPECT_LT(margin, kNearTie) << p["name"] << " departs at step " << split;
  }
  std::printf("[int8] %d of %zu greedy continuations identical to f32's\n", identical, prompts.size());
  EXPECT_GE(identical, 1);
}

TEST(MatvecSwitch, ListedByOptionsJson) {
  const CommandResult r = run_streammoe("options --json", Capture::kBoth);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  const auto it = std::find_if(j.begin(), j.end(), [](const auto& d) { return d["name"] == "matvec"; });
  ASSERT_NE(it, j.end()) << r.output;
  EXPECT_EQ((*it)["type"], "enum");
  EXPECT_EQ((*it)["default"], "f32");
  EXPECT_EQ((*it)["values"], nlohmann::json::array({"f32", "int8"}));
  EXPECT_EQ((*it)["value_help"].size(), 2u);
}

TEST(MatvecSwitch, ABadValueIsOneClearError) {
  const CommandResult r =
      run_streammoe("eval --model " + kTiny.string() + " --ids 1,2 --matvec int4", Capture::kStderr);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(r.output, "streammoe: error: --matvec: invalid value 'int4' (valid: f32, int8)\n");
}

// --dequant chooses between formulations of the f32 path; with int8 it would do nothing while the
// result's options claimed it.
TEST(MatvecSwitch, NaiveDequantWithInt8IsRefused) {
  const CommandResult r = run_streammoe(
      "eval --model " + kTiny.string() + " --ids 1,2 --matvec int8 --dequant naive", Capture::kStderr);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("--dequant naive"));
  EXPECT_THAT(r.output, HasSubstr("--matvec int8"));
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_EQ(run_streammoe("eval --model " + kTiny.string() + " --ids 1,2 --matvec int8 --dequant fma").exit_code, 0);
}

TEST(MatvecSwitch, MetricsRecordTheKernelIsas) {
  testing::TempDir dir("matvec-metrics");
  const fs::path metrics = dir / "m.json";
  const CommandResult r = run_streammoe("generate --model " + kTiny.string() +
                                        " --ids 5,17,3 --tokens 3 --matvec int8 --metrics-json " + metrics.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream in(metrics);
  const auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j["options"]["matvec"], "int8");
  EXPECT_EQ(j["build"]["int8_kernel_isa"], std::string(enum_name(best_int8_kernel_isa())));
  EXPECT_EQ(j["build"]["kernel_isa"], std::string(enum_name(best_kernel_isa())));
  EXPECT_TRUE(j["build"].contains("avx2"));
}

}  // namespace
}  // namespace streammoe
