// SafetensorsFile: round trips through the writer, every malformed-input check, and a mutation
// fuzz (any outcome but a valid file or streammoe::Error is a failure; run under ASan too).
#include "engine/model/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "engine/model/safetensors_writer.h"
#include "engine/util/error.h"

namespace streammoe {
namespace {

template <typename T>
std::span<const std::byte> as_bytes_of(const std::vector<T>& v) {
  return std::as_bytes(std::span<const T>(v));
}

std::vector<std::byte> read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(chars.size());
  if (!chars.empty()) std::memcpy(out.data(), chars.data(), chars.size());
  return out;
}

void write_all(const std::filesystem::path& path, std::span<const std::byte> bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// A file written by hand: header length (the true one unless overridden), header text, data.
void write_raw(const std::filesystem::path& path, const std::string& header, size_t data_bytes,
               std::optional<uint64_t> header_length = std::nullopt) {
  const uint64_t length = header_length.value_or(header.size());
  std::vector<std::byte> bytes(8 + header.size() + data_bytes, std::byte{0x5a});
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<std::byte>((length >> (8 * i)) & 0xff);
  std::memcpy(bytes.data() + 8, header.data(), header.size());
  write_all(path, bytes);
}

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("streammoe_safetensors_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Expects opening `path` to throw streammoe::Error whose message has the file name and each of
  // `parts`.
  void expect_error(const std::filesystem::path& path, std::initializer_list<std::string> parts) {
    try {
      SafetensorsFile file(path);
      ADD_FAILURE() << path << ": opened, but an Error was expected";
    } catch (const Error& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find(path.string()), std::string::npos) << message;
      for (const std::string& part : parts) EXPECT_NE(message.find(part), std::string::npos) << message;
      EXPECT_EQ(message.find('\n'), std::string::npos) << "message is not one line: " << message;
    }
  }
  // Writes `header` (plus data_bytes of data) and expects an Error naming the file and `parts`.
  void expect_bad_header(const std::string& header, size_t data_bytes, std::initializer_list<std::string> parts) {
    SCOPED_TRACE(header);
    const auto path = dir_ / "bad.safetensors";
    write_raw(path, header, data_bytes);
    expect_error(path, parts);
  }

  std::filesystem::path dir_;
};

TEST_F(SafetensorsTest, RoundTripsF32F16Bf16) {
  const std::vector<float> f32 = {1.0f, -2.5f, 0.0f, 3.25e-3f, 65504.0f, -std::numeric_limits<float>::infinity()};
  // f16 bit patterns and their values, worked by hand: 1, -2, 65504, 2^-14, 2^-24, -0, inf.
  const std::vector<uint16_t> f16 = {0x3c00, 0xc000, 0x7bff, 0x0400, 0x0001, 0x8000, 0x7c00, 0x3555};
  const std::vector<float> f16_values = {1.0f, -2.0f, 65504.0f, std::ldexp(1.0f, -14), std::ldexp(1.0f, -24),
                                         -0.0f, std::numeric_limits<float>::infinity(), 0.333251953125f};
  // bf16: 1, -3, 0.5, 2^-133 (subnormal), 2^127, NaN.
  const std::vector<uint16_t> bf16 = {0x3f80, 0xc040, 0x3f00, 0x0001, 0x7f00, 0x7fc0};
  const std::vector<uint8_t> u8 = {7};  // one byte, so the tensors after it are unaligned

  const std::vector<TensorToWrite> tensors = {
      {"a.u8", DType::kU8, {1}, as_bytes_of(u8)},
      {"b.f32", DType::kF32, {2, 3}, as_bytes_of(f32)},
      {"c.f16", DType::kF16, {8}, as_bytes_of(f16)},
      {"d.bf16", DType::kBF16, {3, 2}, as_bytes_of(bf16)},
  };
  const auto path = dir_ / "model.safetensors";
  write_safetensors(path, tensors, {{"format", "pt"}});

  const SafetensorsFile file(path);
  EXPECT_EQ(file.path(), path);
  EXPECT_EQ(file.tensors().size(), 4u);
  EXPECT_EQ(file.metadata(), (std::map<std::string, std::string>{{"format", "pt"}}));
  EXPECT_EQ(file.find("nope"), nullptr);

  const TensorInfo* t = file.find("b.f32");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->name, "b.f32");
  EXPECT_EQ(t->dtype, DType::kF32);
  EXPECT_EQ(t->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(t->numel(), 6);
  EXPECT_EQ(t->shape_string(), "[2, 3]");
  EXPECT_EQ(t->file, path);
  EXPECT_EQ(to_f32(*t), f32);

  const std::vector<float> f16_read = to_f32(*file.find("c.f16"));
  ASSERT_EQ(f16_read.size(), f16_values.size());
  for (size_t i = 0; i < f16_read.size(); ++i) {
    EXPECT_EQ(f16_read[i], f16_values[i]) << i;
    EXPECT_EQ(std::signbit(f16_read[i]), std::signbit(f16_values[i])) << i;
  }

  const std::vector<float> bf16_read = to_f32(*file.find("d.bf16"));
  ASSERT_EQ(bf16_read.size(), 6u);
  EXPECT_EQ(bf16_read[0], 1.0f);
  EXPECT_EQ(bf16_read[1], -3.0f);
  EXPECT_EQ(bf16_read[2], 0.5f);
  EXPECT_EQ(bf16_read[3], std::ldexp(1.0f, -133));
  EXPECT_EQ(bf16_read[4], std::ldexp(1.0f, 127));
  EXPECT_TRUE(std::isnan(bf16_read[5]));

  // file_offset is absolute: the bytes there in the file are the tensor's bytes.
  const std::vector<std::byte> raw = read_all(path);
  for (const auto& [name, info] : file.tensors()) {
    ASSERT_LE(info.file_offset + info.data.size(), raw.size()) << name;
    EXPECT_EQ(std::memcmp(raw.data() + info.file_offset, info.data.data(), info.data.size()), 0) << name;
  }
  EXPECT_EQ(file.find("b.f32")->file_offset, file.find("a.u8")->file_offset + 1);

  try {
    to_f32(*file.find("a.u8"));
    FAIL() << "U8 converted to f32";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("a.u8"), std::string::npos) << e.what();
  }
}

TEST_F(SafetensorsTest, HandWrittenHeaderOffsetsAndScalars) {
  // Header written by hand, so the reader is not only checked against our own writer.
  const std::string header =
      R"({"s":{"dtype":"F32","shape":[],"data_offsets":[4,8]},)"
      R"("e":{"dtype":"F16","shape":[0,5],"data_offsets":[8,8]},)"
      R"("__metadata__":{"k":"v"},)"
      R"("v":{"dtype":"I64","shape":[1],"data_offsets":[8,16]}}   )";
  const auto path = dir_ / "hand.safetensors";
  write_raw(path, header, 16);
  const SafetensorsFile file(path);
  ASSERT_EQ(file.tensors().size(), 3u);
  const TensorInfo& scalar = *file.find("s");
  EXPECT_EQ(scalar.numel(), 1);
  EXPECT_EQ(scalar.shape_string(), "[]");
  EXPECT_EQ(scalar.file_offset, 8 + header.size() + 4);
  EXPECT_EQ(scalar.data.size(), 4u);
  EXPECT_EQ(file.find("e")->numel(), 0);
  EXPECT_TRUE(to_f32(*file.find("e")).empty());
  EXPECT_EQ(file.find("v")->file_offset, 8 + header.size() + 8);
  EXPECT_EQ(file.metadata().at("k"), "v");
}

TEST_F(SafetensorsTest, MoveKeepsTensorViewsValid) {
  const std::vector<float> values = {1, 2, 3};
  const std::vector<TensorToWrite> tensors = {{"w", DType::kF32, {3}, as_bytes_of(values)}};
  write_safetensors(dir_ / "m.safetensors", tensors);
  SafetensorsFile first(dir_ / "m.safetensors");
  SafetensorsFile second = std::move(first);
  EXPECT_EQ(to_f32(*second.find("w")), values);
}

TEST_F(SafetensorsTest, AFailedWriteIsAnErrorNamingTheFile) {
  if (!std::filesystem::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  const std::vector<float> values = {1, 2, 3};
  const std::vector<TensorToWrite> tensors = {{"w", DType::kF32, {3}, as_bytes_of(values)}};
  try {
    write_safetensors("/dev/full", tensors);
    ADD_FAILURE() << "no error writing to /dev/full";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/dev/full: write failed"), std::string::npos) << e.what();
  }
}

TEST_F(SafetensorsTest, ShortFiles) {
  const auto path = dir_ / "short.safetensors";
  write_all(path, {});
  expect_error(path, {"too short"});
  write_all(path, std::vector<std::byte>(7, std::byte{0}));
  expect_error(path, {"too short"});
  write_raw(path, "", 0);  // header length 0: 8 bytes, empty header
  expect_error(path, {"malformed JSON"});
}

TEST_F(SafetensorsTest, HeaderLengthBeyondFile) {
  const auto path = dir_ / "long.safetensors";
  write_raw(path, "{}", 0, 3);
  expect_error(path, {"header length 3"});
  write_raw(path, "{}", 0, std::numeric_limits<uint64_t>::max());
  expect_error(path, {"header length"});
  write_raw(path, "{}", 0, uint64_t{1} << 63);
  expect_error(path, {"header length"});
}

TEST_F(SafetensorsTest, HeaderLengthAboveLimit) {
  // A sparse file big enough that the length fits, but past the 100 MB header limit.
  const auto path = dir_ / "huge.safetensors";
  write_raw(path, "{}", 0, 100'000'001);
  std::filesystem::resize_file(path, 8 + 100'000'001);
  expect_error(path, {"limit"});
}

TEST_F(SafetensorsTest, MalformedJson) {
  expect_bad_header(R"({"a": )", 0, {"malformed JSON"});
  expect_bad_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}} trailing)", 4, {"malformed JSON"});
  expect_bad_header(std::string("{\"a\xff\": 1}"), 0, {"malformed JSON"});  // invalid UTF-8
  expect_bad_header(std::string("{\"a\0\": 1}", 9), 0, {"malformed JSON"});
  expect_bad_header(std::string(100000, '['), 0, {"malformed JSON"});  // deep nesting, no crash
  expect_bad_header("[1, 2]", 0, {"not a JSON object"});
  expect_bad_header("null", 0, {"not a JSON object"});
}

TEST_F(SafetensorsTest, BadEntries) {
  expect_bad_header(R"({"w": 5})", 0, {"w", "not an object"});
  expect_bad_header(R"({"w": {"shape":[1],"data_offsets":[0,4]}})", 4, {"w", "dtype"});
  expect_bad_header(R"({"w": {"dtype":"F32","data_offsets":[0,4]}})", 4, {"w", "shape"});
  expect_bad_header(R"({"w": {"dtype":"F32","shape":[1]}})", 4, {"w", "data_offsets"});
  expect_bad_header(R"({"w": {"dtype":"F99","shape":[1],"data_offsets":[0,4]}})", 4, {"w", "unknown dtype", "F99"});
  expect_bad_header(R"({"w": {"dtype":4,"shape":[1],"data_offsets":[0,4]}})", 4, {"w", "dtype"});
  expect_bad_header(R"({"w": {"dtype":"F32","shape":5,"data_offsets":[0,4]}})", 4, {"w", "shape"});
}

TEST_F(SafetensorsTest, BadShapes) {
  expect_bad_header(R"({"w": {"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4, {"w", "negative"});
  expect_bad_header(R"({"w": {"dtype":"F32","shape":[2,-2],"data_offsets":[0,16]}})", 16, {"w", "negative"});
  expect_bad_header(R"({"w": {"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4, {"w", "not an integer"});
  expect_bad_header(R"({"w": {"dtype":"F32","shape":["1"],"data_offsets":[0,4]}})", 4, {"w", "not an integer"});
  expect_bad_header(R"({"w": {"dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,4]}})", 4,
                    {"w", "too large"});
  expect_bad_header(R"({"w": {"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,4]}})", 4,
                    {"w", "not an integer"});
  // numel * 4 wraps around 2^64 to exactly 4 bytes in unchecked arithmetic: must be caught.
  expect_bad_header(R"({"w": {"dtype":"F32","shape":[4611686018427387905],"data_offsets":[0,4]}})", 4,
                    {"w", "overflows"});
  expect_bad_header(R"({"w": {"dtype":"BF16","shape":[4294967296,4294967296,1],"data_offsets":[0,0]}})", 0,
                    {"w", "overflows"});
}

TEST_F(SafetensorsTest, BadOffsets) {
  expect_bad_header(R"({"w": {"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", 8, {"w", "end 4 < begin 8"});
  expect_bad_header(R"({"w": {"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 3, {"w", "beyond"});
  expect_bad_header(R"({"w": {"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 7, {"w", "beyond"});
  expect_bad_header(R"({"w": {"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551615]}})", 4,
                    {"w", "beyond"});
  expect_bad_header(R"({"w": {"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 8, {"w", "needs 8 bytes"});
  expect_bad_header(R"({"w": {"dtype":"F16","shape":[2],"data_offsets":[0,8]}})", 8, {"w", "needs 4 bytes"});
  expect_bad_header(R"({"w": {"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4, {"w", "data_offsets"});
  expect_bad_header(R"({"w": {"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}})", 8, {"w", "data_offsets"});
  expect_bad_header(R"({"w": {"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", 4, {"w", "data_offsets"});
  expect_bad_header(R"({"w": {"dtype":"F32","shape":[1],"data_offsets":[0.0,4.0]}})", 4, {"w", "data_offsets"});
  expect_bad_header(R"({"w": {"dtype":"F32","shape":[1],"data_offsets":"0,4"}})", 4, {"w", "data_offsets"});
}

TEST_F(SafetensorsTest, OverlapsAndDuplicates) {
  expect_bad_header(
      R"({"a": {"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b": {"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
      8, {"a", "b", "overlap"});
  expect_bad_header(
      R"({"a": {"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a": {"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
      8, {"\"a\"", "twice"});
  // Touching ranges and empty tensors anywhere are fine.
  const auto path = dir_ / "ok.safetensors";
  write_raw(path,
            R"({"a": {"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b": {"dtype":"F32","shape":[1],"data_offsets":[4,8]},)"
            R"("c": {"dtype":"F32","shape":[0],"data_offsets":[2,2]}})",
            8);
  EXPECT_EQ(SafetensorsFile(path).tensors().size(), 3u);
}

TEST_F(SafetensorsTest, BadMetadata) {
  expect_bad_header(R"({"__metadata__": 3})", 0, {"__metadata__"});
  expect_bad_header(R"({"__metadata__": {"format": 1}})", 0, {"__metadata__", "format"});
}

TEST_F(SafetensorsTest, MissingFileAndDirectory) {
  expect_error(dir_ / "absent.safetensors", {"cannot open"});
  expect_error(dir_, {"not a regular file"});
}

// ~2000 deterministic mutations of a valid file: each must open cleanly or throw Error, and an
// opened file must describe only bytes that are really in the file.
TEST_F(SafetensorsTest, MutationFuzz) {
  const std::vector<float> f32 = {1.0f, 2.0f, 3.0f, 4.0f};
  const std::vector<uint16_t> f16 = {0x3c00, 0x4000};
  const std::vector<uint16_t> bf16 = {0x3f80, 0x4000, 0x4040};
  const std::vector<TensorToWrite> tensors = {
      {"model.layers.0.mlp.gate.weight", DType::kF32, {2, 2}, as_bytes_of(f32)},
      {"model.norm.weight", DType::kF16, {2}, as_bytes_of(f16)},
      {"lm_head.weight", DType::kBF16, {3, 1}, as_bytes_of(bf16)},
  };
  const std::vector<std::byte> valid = safetensors_bytes("fuzz", tensors, {{"format", "pt"}});
  const auto path = dir_ / "fuzz.safetensors";

  std::mt19937_64 rng(20240611);
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  const char interesting[] = {'{', '}', '[', ']', '"', ',', ':', '-', '0', '1', '9', 'e', '.', ' ', '\\', '\0'};
  int opened = 0, refused = 0;
  for (int iteration = 0; iteration < 2000; ++iteration) {
    std::vector<std::byte> bytes = valid;
    const int mutations = 1 + static_cast<int>(pick(4));
    for (int m = 0; m < mutations && !bytes.empty(); ++m) {
      switch (pick(6)) {
        case 0:  // flip one bit anywhere
          bytes[pick(bytes.size())] ^= static_cast<std::byte>(1u << pick(8));
          break;
        case 1:  // random byte anywhere
          bytes[pick(bytes.size())] = static_cast<std::byte>(pick(256));
          break;
        case 2:  // a JSON-significant character in the header
          if (bytes.size() <= 8) break;
          bytes[8 + pick(bytes.size() - 8)] = static_cast<std::byte>(interesting[pick(sizeof interesting)]);
          break;
        case 3:  // change a digit in the header (shapes and offsets)
        {
          if (bytes.size() <= 8) break;
          const size_t at = 8 + pick(bytes.size() - 8);
          for (size_t i = at; i < bytes.size(); ++i) {
            const char c = static_cast<char>(bytes[i]);
            if (c >= '0' && c <= '9') {
              bytes[i] = static_cast<std::byte>('0' + pick(10));
              break;
            }
          }
          break;
        }
        case 4:  // truncate
          bytes.resize(pick(bytes.size() + 1));
          break;
        case 5:  // corrupt the header length
          bytes[pick(std::min<size_t>(8, bytes.size()))] = static_cast<std::byte>(pick(256));
          break;
      }
    }
    write_all(path, bytes);
    try {
      const SafetensorsFile file(path);
      ++opened;
      for (const auto& [name, info] : file.tensors()) {
        ASSERT_LE(info.file_offset + info.data.size(), bytes.size()) << "iteration " << iteration << " " << name;
        ASSERT_EQ(info.data.size(), static_cast<size_t>(info.numel()) * dtype_size(info.dtype));
        ASSERT_EQ(std::memcmp(bytes.data() + info.file_offset, info.data.data(), info.data.size()), 0);
        if (info.dtype == DType::kF32 || info.dtype == DType::kF16 || info.dtype == DType::kBF16) {
          ASSERT_EQ(to_f32(info).size(), static_cast<size_t>(info.numel()));
        }
      }
    } catch (const Error& e) {
      ++refused;
      ASSERT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    } catch (const std::exception& e) {
      FAIL() << "iteration " << iteration << ": non-streammoe exception: " << e.what();
    }
  }
  // Both outcomes must occur, or the mutations are not exercising the reader.
  EXPECT_GT(opened, 20);
  EXPECT_GT(refused, 500);
  std::printf("mutation fuzz: %d opened, %d refused\n", opened, refused);
}

}  // namespace
}  // namespace streammoe
