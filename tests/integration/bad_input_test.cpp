// Bad model folders given to the `streammoe` command: each gives exit code 1 and one error line
// naming the file (and tensor), never a crash. scripts/test.sh also runs this under ASan/UBSan.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/model/safetensors.h"
#include "engine/model/safetensors_writer.h"
#include "cli_test_util.h"

namespace streammoe {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

using cli_test::CommandResult;
using cli_test::read_bytes;

CommandResult run_streammoe(const std::string& args) { return cli_test::run_streammoe(args, cli_test::Capture::kStderr); }
void write_file(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

class BadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = fs::path(STREAMMOE_SOURCE_DIR) / "tests/fixtures/models/q3moe_f32";
    if (!fs::exists(source_)) GTEST_SKIP() << "fixture missing: " << source_;
    dir_ = fs::temp_directory_path() / ("streammoe_bad_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::copy(source_, dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  // Rewrites model.safetensors through `edit`, which may drop or replace tensors.
  template <typename Edit>
  void rewrite_tensors(Edit edit) {
    const fs::path file = dir_ / "model.safetensors";
    std::vector<TensorToWrite> tensors;
    std::vector<std::vector<std::byte>> storage;
    {
      SafetensorsFile in(file);
      for (const auto& [name, t] : in.tensors()) {
        storage.emplace_back(t.data.begin(), t.data.end());
        tensors.push_back({name, t.dtype, t.shape, storage.back()});
      }
      edit(tensors, storage);
    }
    write_safetensors(file, tensors, {});
  }
  CommandResult eval() { return run_streammoe("eval --model " + dir_.string() + " --ids 1,2,3"); }
  void expect_one_line_error(const CommandResult& r, const std::string& must_contain) {
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_THAT(r.output, HasSubstr(must_contain));
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    EXPECT_THAT(r.output, HasSubstr("error:"));
  }

  fs::path source_, dir_;
};

TEST_F(BadInput, GoodFolderRuns) { EXPECT_EQ(eval().exit_code, 0); }

TEST_F(BadInput, MissingTensor) {
  rewrite_tensors([](auto& tensors, auto&) {
    std::erase_if(tensors, [](const TensorToWrite& t) { return t.name == "model.layers.0.self_attn.k_proj.weight"; });
  });
  expect_one_line_error(eval(), "model.layers.0.self_attn.k_proj.weight");
}

TEST_F(BadInput, WrongShape) {
  rewrite_tensors([](auto& tensors, auto&) {
    for (auto& t : tensors)
      if (t.name == "model.norm.weight") t.shape = {t.shape[0] / 2, 2};
  });
  expect_one_line_error(eval(), "model.norm.weight");
}

TEST_F(BadInput, UnknownModelType) {
  auto config = nlohmann::json::parse(read_bytes(dir_ / "config.json"));
  config["model_type"] = "mixtral";
  write_file(dir_ / "config.json", config.dump());
  expect_one_line_error(eval(), "unknown model_type 'mixtral'");
}

TEST_F(BadInput, MalformedConfigJson) {
  write_file(dir_ / "config.json", "{\"model_type\": \"qwen3_moe\",");
  expect_one_line_error(eval(), "config.json: malformed JSON");
}

TEST_F(BadInput, TruncatedSafetensors) {
  const fs::path file = dir_ / "model.safetensors";
  fs::resize_file(file, fs::file_size(file) / 2);
  expect_one_line_error(eval(), "model.safetensors");
}

TEST_F(BadInput, HeaderLiesAboutOffsets) {
  const fs::path file = dir_ / "model.safetensors";
  const std::string bytes = read_bytes(file);
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  auto header = nlohmann::json::parse(bytes.substr(8, header_len));
  const uint64_t data_len = bytes.size() - 8 - header_len;
  header["model.norm.weight"]["data_offsets"] = {data_len - 4, data_len + 1024};
  std::string new_header = header.dump();
  const uint64_t new_len = new_header.size();
  std::string out(reinterpret_cast<const char*>(&new_len), 8);
  write_file(file, out + new_header + bytes.substr(8 + header_len));
  expect_one_line_error(eval(), "model.norm.weight");
}

TEST_F(BadInput, NotAModelFolder) {
  fs::remove(dir_ / "config.json");
  expect_one_line_error(eval(), "config.json");
}

TEST_F(BadInput, BadIdsAndFlags) {
  expect_one_line_error(run_streammoe("eval --model " + dir_.string() + " --ids 1,x,3"), "'x' is not a token id");
  expect_one_line_error(run_streammoe("eval --model " + dir_.string() + " --ids 1,99999"), "out of range");
  expect_one_line_error(run_streammoe("generate --model " + dir_.string() + " --ids 1 --k 99"), "--k 99 out of range");
}

}  // namespace
}  // namespace streammoe
