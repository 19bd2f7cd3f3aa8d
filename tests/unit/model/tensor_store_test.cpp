// TensorStore: a single model.safetensors, a sharded checkpoint with its index, and every way the
// index and shards can disagree.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "engine/model/safetensors.h"
#include "engine/model/safetensors_writer.h"
#include "engine/util/error.h"

namespace streammoe {
namespace {

template <typename T>
std::span<const std::byte> as_bytes_of(const std::vector<T>& v) {
  return std::as_bytes(std::span<const T>(v));
}

class TensorStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("streammoe_tensor_store_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void write_text(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::binary | std::ios::trunc) << text;
  }
  // Two shards: gate+embed in shard 1, norm in shard 2, and the index listing them.
  void write_two_shards() {
    write_safetensors(dir_ / "model-00001-of-00002.safetensors",
                      std::vector<TensorToWrite>{{"model.layers.0.mlp.gate.weight", DType::kF32, {8, 32}, as_bytes_of(gate_)},
                                                 {"model.embed_tokens.weight", DType::kBF16, {4, 2}, as_bytes_of(embed_)}});
    write_safetensors(dir_ / "model-00002-of-00002.safetensors",
                      std::vector<TensorToWrite>{{"model.norm.weight", DType::kF16, {3}, as_bytes_of(norm_)}});
    write_text("model.safetensors.index.json", R"({
      "metadata": {"total_size": 1046},
      "weight_map": {
        "model.layers.0.mlp.gate.weight": "model-00001-of-00002.safetensors",
        "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
        "model.norm.weight": "model-00002-of-00002.safetensors"
      }})");
  }
  // Expects TensorStore::open to throw an Error whose message holds each of `parts`.
  void expect_open_error(std::initializer_list<std::string> parts) {
    try {
      TensorStore::open(dir_);
      ADD_FAILURE() << "opened, but an Error was expected";
    } catch (const Error& e) {
      const std::string message = e.what();
      for (const std::string& part : parts) EXPECT_NE(message.find(part), std::string::npos) << message;
    }
  }

  std::filesystem::path dir_;
  std::vector<float> gate_ = std::vector<float>(8 * 32, 0.5f);
  std::vector<uint16_t> embed_ = {0x3f80, 0x4000, 0x4040, 0x4080, 0xbf80, 0xc000, 0xc040, 0xc080};  // 1..4, -1..-4
  std::vector<uint16_t> norm_ = {0x3c00, 0x3800, 0x0001};  // 1, 0.5, 2^-24
};

TEST_F(TensorStoreTest, SingleFile) {
  const std::vector<float> w = {1, 2, 3, 4, 5, 6};
  write_safetensors(dir_ / "model.safetensors", std::vector<TensorToWrite>{{"w", DType::kF32, {2, 3}, as_bytes_of(w)}});
  const TensorStore store = TensorStore::open(dir_);
  EXPECT_EQ(store.folder(), dir_);
  EXPECT_TRUE(store.has("w"));
  EXPECT_FALSE(store.has("v"));
  EXPECT_EQ(store.find("v"), nullptr);
  EXPECT_EQ(store.names(), std::vector<std::string>{"w"});
  const int64_t shape[] = {2, 3};
  EXPECT_EQ(to_f32(store.get("w", shape)), w);
  EXPECT_EQ(store.get("w").file, dir_ / "model.safetensors");
}

TEST_F(TensorStoreTest, TwoShards) {
  write_two_shards();
  TensorStore store = TensorStore::open(dir_);
  EXPECT_EQ(store.names(), (std::vector<std::string>{"model.embed_tokens.weight", "model.layers.0.mlp.gate.weight",
                                                     "model.norm.weight"}));
  const int64_t gate_shape[] = {8, 32};
  const TensorInfo& gate = store.get("model.layers.0.mlp.gate.weight", gate_shape);
  EXPECT_EQ(gate.file, dir_ / "model-00001-of-00002.safetensors");
  EXPECT_EQ(to_f32(gate), gate_);
  EXPECT_EQ(to_f32(store.get("model.embed_tokens.weight")),
            (std::vector<float>{1, 2, 3, 4, -1, -2, -3, -4}));
  const TensorInfo& norm = store.get("model.norm.weight");
  EXPECT_EQ(norm.file, dir_ / "model-00002-of-00002.safetensors");
  EXPECT_EQ(to_f32(norm), (std::vector<float>{1.0f, 0.5f, std::ldexp(1.0f, -24)}));

  // The store is returned by value; its tensor views must survive a further move.
  TensorStore moved = std::move(store);
  EXPECT_EQ(to_f32(moved.get("model.norm.weight")).size(), 3u);
}

TEST_F(TensorStoreTest, ShapeMismatchMessage) {
  write_two_shards();
  const TensorStore store = TensorStore::open(dir_);
  const int64_t wrong[] = {16, 32};
  try {
    store.get("model.layers.0.mlp.gate.weight", wrong);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              dir_.string() + ": tensor model.layers.0.mlp.gate.weight has shape [8, 32], expected [16, 32]");
  }
  const int64_t rank3[] = {8, 32, 1};
  EXPECT_THROW(store.get("model.layers.0.mlp.gate.weight", rank3), Error);
  try {
    store.get("model.layers.1.mlp.gate.weight");
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), dir_.string() + ": missing tensor model.layers.1.mlp.gate.weight");
  }
}

TEST_F(TensorStoreTest, EmptyFolder) {
  try {
    TensorStore::open(dir_);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), dir_.string() + ": no model.safetensors or model.safetensors.index.json");
  }
  const auto absent = dir_ / "absent";
  EXPECT_THROW(TensorStore::open(absent), Error);
}

TEST_F(TensorStoreTest, MissingShard) {
  write_two_shards();
  std::filesystem::remove(dir_ / "model-00002-of-00002.safetensors");
  expect_open_error({"model.safetensors.index.json", "model-00002-of-00002.safetensors", "model.norm.weight",
                     "does not exist"});
}

TEST_F(TensorStoreTest, TensorListedButNotInShard) {
  write_two_shards();
  write_text("model.safetensors.index.json", R"({"weight_map": {
      "model.norm.weight": "model-00002-of-00002.safetensors",
      "model.layers.0.mlp.gate.weight": "model-00002-of-00002.safetensors"}})");
  expect_open_error({"model.safetensors.index.json", "model.layers.0.mlp.gate.weight",
                     "model-00002-of-00002.safetensors", "not found"});
}

TEST_F(TensorStoreTest, TensorInTwoShards) {
  write_two_shards();
  write_safetensors(dir_ / "model-00002-of-00002.safetensors",
                    std::vector<TensorToWrite>{{"model.norm.weight", DType::kF16, {3}, as_bytes_of(norm_)},
                                               {"model.embed_tokens.weight", DType::kBF16, {4, 2}, as_bytes_of(embed_)}});
  expect_open_error({"model.embed_tokens.weight", "model-00001-of-00002.safetensors",
                     "model-00002-of-00002.safetensors"});
}

TEST_F(TensorStoreTest, CorruptShardNamesTheShard) {
  write_two_shards();
  std::filesystem::resize_file(dir_ / "model-00002-of-00002.safetensors", 20);
  expect_open_error({"model-00002-of-00002.safetensors", "header length"});
}

TEST_F(TensorStoreTest, BadIndex) {
  write_two_shards();
  const std::string index = "model.safetensors.index.json";
  write_text(index, R"({"weight_map": )");
  expect_open_error({index, "malformed JSON"});
  write_text(index, R"({"metadata": {}})");
  expect_open_error({index, "weight_map"});
  write_text(index, R"({"weight_map": []})");
  expect_open_error({index, "weight_map"});
  write_text(index, R"({"weight_map": {}})");
  expect_open_error({index, "no tensors"});
  write_text(index, R"({"weight_map": {"model.norm.weight": 2}})");
  expect_open_error({index, "model.norm.weight", "not a string"});
  write_text(index, R"({"weight_map": {"model.norm.weight": "../model-00002-of-00002.safetensors"}})");
  expect_open_error({index, "model.norm.weight", "inside the folder"});
  write_text(index, R"({"weight_map": {"model.norm.weight": "/etc/passwd"}})");
  expect_open_error({index, "model.norm.weight", "inside the folder"});
  write_text(index, "");
  expect_open_error({index, "malformed JSON"});
}

TEST_F(TensorStoreTest, SameShardSpelledTwoWaysOpensOnce) {
  write_two_shards();
  write_text("model.safetensors.index.json", R"({"weight_map": {
      "model.norm.weight": "./model-00002-of-00002.safetensors",
      "model.layers.0.mlp.gate.weight": "model-00001-of-00002.safetensors",
      "model.embed_tokens.weight": "./model-00001-of-00002.safetensors"}})");
  EXPECT_EQ(TensorStore::open(dir_).names().size(), 3u);
}

// Byte mutations of a valid index: opening must succeed or throw Error, never anything else.
TEST_F(TensorStoreTest, IndexMutationFuzz) {
  write_two_shards();
  std::ifstream in(dir_ / "model.safetensors.index.json", std::ios::binary);
  const std::string valid((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::mt19937_64 rng(7);
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  int opened = 0, refused = 0;
  for (int iteration = 0; iteration < 300; ++iteration) {
    std::string text = valid;
    const int mutations = 1 + static_cast<int>(pick(3));
    for (int m = 0; m < mutations && !text.empty(); ++m) {
      if (pick(5) == 0)
        text.resize(pick(text.size() + 1));
      else
        text[pick(text.size())] = "{}[]\":,.0/\\ x\xff"[pick(14)];
    }
    write_text("model.safetensors.index.json", text);
    try {
      TensorStore::open(dir_);
      ++opened;
    } catch (const Error&) {
      ++refused;
    } catch (const std::exception& e) {
      FAIL() << "iteration " << iteration << ": non-streammoe exception: " << e.what();
    }
  }
  EXPECT_GT(opened, 0);
  EXPECT_GT(refused, 100);
}

}  // namespace
}  // namespace streammoe
