// .npy files: what write_npy_* writes reads back; a header whose shape the file cannot hold is a
// named Error before anything is allocated (review findings 4 and 6); a failed write is an Error.
#include "engine/util/npy.h"

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

// A version-1 .npy file with this header dict and `data_bytes` zero bytes of data.
std::string npy_bytes(const std::string& dict, size_t data_bytes) {
  std::string header = dict;
  header.append((64 - (10 + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY\x01";
  out += '\0';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  return out + header + std::string(data_bytes, '\0');
}

class NpyTest : public ::testing::Test {
 protected:
  std::filesystem::path write(const std::string& name, const std::string& bytes) {
    const auto path = dir_.path() / name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  std::string read_error(const std::string& shape, size_t data_bytes = 96) {
    const auto path =
        write("a.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }", data_bytes));
    const std::string message = error_of([&] { read_npy(path); });
    EXPECT_THAT(message, HasSubstr(path.string() + ": ")) << shape;
    return message;
  }
  testing::TempDir dir_{"npy"};
};

TEST_F(NpyTest, RoundTrips) {
  const auto f32 = dir_.path() / "f.npy";
  const std::vector<float> values = {1.5f, -2.0f, 3.25f, 0.0f, 5.0f, 6.0f};
  const int64_t shape[] = {2, 3};
  write_npy_f32(f32, shape, values);
  const NpyArray a = read_npy(f32);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a.f32, values);
  const auto i64 = dir_.path() / "i.npy";
  const std::vector<int64_t> ids = {5, 17, 3};
  const int64_t one_d[] = {3};
  write_npy_i64(i64, one_d, ids);
  EXPECT_EQ(read_npy(i64).i64, ids);
}

TEST_F(NpyTest, ShapesTheFileCannotHoldAreRefusedBeforeAllocating) {
  EXPECT_THAT(read_error("(4000000000000, 6144)"),
              HasSubstr("truncated npy data (expected 98304000000000000 bytes, the file holds 96)"));
  EXPECT_THAT(read_error("(4611686018427387904, 4)"), HasSubstr("npy shape (4611686018427387904, 4) is too large"));
  EXPECT_THAT(read_error("(4611686018427387904, 4611686018427387904, 0)"), HasSubstr("is too large"));
  EXPECT_THAT(read_error("(-4, 6)"), HasSubstr("dimension '-4' that is not a non-negative integer"));
  EXPECT_THAT(read_error("(99999999999999999999999, 6)"), HasSubstr("not a non-negative integer"));
  EXPECT_THAT(read_error("(4, 7)"), HasSubstr("truncated npy data (expected 112 bytes, the file holds 96)"));
  EXPECT_THAT(read_error("(4, x)"), HasSubstr("not a non-negative integer"));
  EXPECT_NO_THROW(read_npy(write("ok.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4, 6), }", 96))));
}

TEST_F(NpyTest, MalformedHeadersAreNamedErrors) {
  std::string huge_header = "\x93NUMPY\x02";
  huge_header += '\0';
  huge_header += std::string("\xff\xff\xff\x7f", 4);
  EXPECT_THAT(error_of([&] { read_npy(write("h.npy", huge_header + "{'descr'")); }), HasSubstr("truncated npy header"));
  EXPECT_THAT(error_of([&] { read_npy(write("s.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape':", 0))); }),
              HasSubstr("s.npy: npy header"));
  EXPECT_THAT(error_of([&] { read_npy(write("v.npy", std::string("\x93NUMPY\x09\x00", 8))); }),
              HasSubstr("npy format version 9 is not supported"));
}

TEST_F(NpyTest, AFailedWriteIsAnErrorNamingTheFile) {
  if (!std::filesystem::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  const std::vector<float> values(16, 1.0f);
  const int64_t shape[] = {4, 4};
  EXPECT_THAT(error_of([&] { write_npy_f32("/dev/full", shape, values); }), HasSubstr("/dev/full: write failed"));
}

}  // namespace
}  // namespace streammoe
