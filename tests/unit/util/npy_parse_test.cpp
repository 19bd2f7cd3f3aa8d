// read_npy on malformed headers: each is an Error naming the file (found by the npy fuzzer:
// a 4 GiB allocation for a lying header length, out-of-range reads in the header dict, a bare
// std::invalid_argument from a shape that is not a number).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "engine/util/error.h"
#include "engine/util/npy.h"
#include "tests/common/temp_dir.h"

namespace streammoe {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

class NpyParse : public ::testing::Test {
 protected:
  // A version-1 file: magic, 2-byte header length, the header as given, then `data`.
  std::filesystem::path write(const std::string& header, const std::string& data = "",
                              int declared_length = -1) {
    const auto path = dir_ / "a.npy";
    const uint16_t len = static_cast<uint16_t>(declared_length < 0 ? header.size() : declared_length);
    std::ofstream out(path, std::ios::binary);
    out.write("\x93NUMPY\x01\x00", 8);
    out.write(reinterpret_cast<const char*>(&len), 2);
    out << header << data;
    return path;
  }
  std::string error_of(const std::filesystem::path& path) {
    try {
      read_npy(path);
    } catch (const Error& e) {
      return e.what();
    }
    ADD_FAILURE() << "no error";
    return "";
  }
  testing::TempDir dir_{"npy"};
};

TEST_F(NpyParse, ReadsWhatItWrites) {
  const int64_t shape[] = {2, 3};
  const float data[] = {1, 2, 3, 4, 5, 6};
  write_npy_f32(dir_ / "w.npy", shape, data);
  const NpyArray a = read_npy(dir_ / "w.npy");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a.f32, (std::vector<float>{1, 2, 3, 4, 5, 6}));
}

TEST_F(NpyParse, HeaderLengthBeyondTheFileIsRefusedBeforeAllocating) {
  const auto path = dir_ / "v2.npy";
  std::ofstream(path, std::ios::binary).write("\x93NUMPY\x02\x00\xff\xff\xff\xf0{}", 14);
  EXPECT_THAT(error_of(path), HasSubstr("v2.npy: truncated npy header (header length 4043309055, the file holds 14 bytes)"));
  EXPECT_THAT(error_of(write("{'descr': '<f4'}", "", 500)), HasSubstr("a.npy: truncated npy header (header length 500"));
}

TEST_F(NpyParse, HeaderDictValuesMustBeComplete) {
  EXPECT_THAT(error_of(write("{'fortran_order':")), HasSubstr("a.npy: npy header has no value for 'fortran_order'"));
  EXPECT_THAT(error_of(write("{'fortran_order': False")), HasSubstr("a.npy: npy header value of 'fortran_order' is not terminated"));
  EXPECT_THAT(error_of(write("{'fortran_order': False, 'descr': '<f4', 'shape': (2, 3")),
              HasSubstr("a.npy: npy header value of 'shape' is not terminated"));
  EXPECT_THAT(error_of(write("{'fortran_order': False, 'descr': '<f4', 'shape': 6, }")),
              HasSubstr("a.npy: npy shape 6 is not a tuple"));
}

TEST_F(NpyParse, ShapeDimensionsMustBeNonNegativeIntegers) {
  const std::string prefix = "{'descr': '<f4', 'fortran_order': False, 'shape': ";
  EXPECT_THAT(error_of(write(prefix + "(2, six), }")), AllOf(HasSubstr("a.npy: npy shape ("), HasSubstr("dimension 'six' that is not a non-negative integer")));
  EXPECT_THAT(error_of(write(prefix + "(-1, 4), }")), AllOf(HasSubstr("a.npy: npy shape ("), HasSubstr("dimension '-1' that is not a non-negative integer")));
  EXPECT_THAT(error_of(write(prefix + "(99999999999999999999,), }")),
              AllOf(HasSubstr("a.npy: npy shape ("), HasSubstr("dimension '99999999999999999999' that is not a non-negative integer")));
  EXPECT_THAT(error_of(write(prefix + "(2 3,), }")), AllOf(HasSubstr("a.npy: npy shape ("), HasSubstr("dimension '2 3' that is not a non-negative integer")));
  const NpyArray a = read_npy(write(prefix + "( 2 , 1 ), }", std::string(8, '\0')));
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 1}));
}

}  // namespace
}  // namespace streammoe
