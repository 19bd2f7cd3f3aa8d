// Every failure to write a file is an Error naming it, including the ones that only show at
// flush or close (a full disk: /dev/full).
#include "engine/util/output_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <sstream>

#include "engine/util/error.h"
#include "tests/common/error_of.h"
#include "tests/common/temp_dir.h"

namespace streammoe {
namespace {

using ::testing::HasSubstr;
using streammoe::testing::error_of;

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(OutputFile, WritesSmallAndLargePiecesInOrder) {
  testing::TempDir dir("output_file");
  const auto path = dir.path() / "out.bin";
  std::string expected;
  {
    OutputFile out(path);
    for (int i = 0; i < 1000; ++i) {
      const std::string piece = std::to_string(i) + ",";
      out.write(piece);
      expected += piece;
    }
    const std::string big(200000, 'x');
    out.write(big);
    expected += big;
    out.write("end");
    expected += "end";
    out.close();
  }
  EXPECT_EQ(read_all(path), expected);
  write_file(path, "replaced");
  EXPECT_EQ(read_all(path), "replaced");
}

TEST(OutputFile, FullDiskIsAnErrorNamingTheFile) {
  if (!std::filesystem::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  EXPECT_THAT(error_of([] { write_file("/dev/full", "{\"a\": 1}\n"); }), HasSubstr("/dev/full: write failed"));
  // A write larger than the buffer fails at once, a small one at close.
  EXPECT_THAT(error_of([] {
                OutputFile out("/dev/full");
                out.write(std::string(1 << 20, 'x'));
              }),
              HasSubstr("/dev/full: write failed"));
}

TEST(OutputFile, UnopenableTargetsAreErrorsNamingTheFile) {
  testing::TempDir dir("output_file");
  EXPECT_THAT(error_of([&] { OutputFile out(dir.path()); }),
              HasSubstr(dir.path().string() + ": cannot open for writing"));
  EXPECT_THAT(error_of([&] { OutputFile out(dir.path() / "no" / "such.json"); }),
              HasSubstr("such.json: cannot open for writing"));
}

}  // namespace
}  // namespace streammoe
