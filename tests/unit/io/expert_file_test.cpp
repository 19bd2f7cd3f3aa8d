// ExpertFile: exact positional reads, and a clear error for truncation and misaligned O_DIRECT.
#include "engine/io/expert_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <numeric>
#include <vector>

#include "engine/io/aligned_buffer.h"
#include "engine/util/error.h"
#include "tests/common/temp_dir.h"

namespace streammoe {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

std::filesystem::path write_counting_file(const TempDir& dir, size_t bytes) {
  std::vector<unsigned char> data(bytes);
  for (size_t i = 0; i < bytes; ++i) data[i] = static_cast<unsigned char>(i * 7 + i / 256);
  const auto path = dir / "experts.bin";
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(data.data()), data.size());
  return path;
}

unsigned char expected_byte(size_t i) { return static_cast<unsigned char>(i * 7 + i / 256); }

TEST(ExpertFile, ReadsExactlyTheRequestedRange) {
  TempDir dir("expert-file");
  const auto path = write_counting_file(dir, 3 * 4096);
  ExpertFile file(path, IoMode::kPread);
  EXPECT_EQ(file.size(), 3u * 4096);
  std::vector<std::byte> out(1000);
  file.read_exact(5000, out);
  for (size_t i = 0; i < out.size(); ++i)
    ASSERT_EQ(std::to_integer<unsigned char>(out[i]), expected_byte(5000 + i));
}

TEST(ExpertFile, ReadPastTheEndNamesTheFile) {
  TempDir dir("expert-file");
  const auto path = write_counting_file(dir, 4096);
  ExpertFile file(path, IoMode::kPread);
  std::vector<std::byte> out(200);
  try {
    file.read_exact(4000, out);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(),
                AllOf(HasSubstr("experts.bin"), HasSubstr("truncated"), HasSubstr("4000")));
  }
}

TEST(ExpertFile, MissingFileNamesIt) {
  try {
    ExpertFile file("/nonexistent/layer_000.bin", IoMode::kPread);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("/nonexistent/layer_000.bin"));
  }
}

TEST(ExpertFile, DirectReadsNeedAlignment) {
  TempDir dir("expert-file");
  const auto path = write_counting_file(dir, 4 * 4096);
  std::unique_ptr<ExpertFile> file;
  try {
    file = std::make_unique<ExpertFile>(path, IoMode::kDirect);
  } catch (const Error& e) {
    GTEST_SKIP() << "O_DIRECT unavailable here: " << e.what();
  }
  AlignedBuffer buffer(2 * 4096);
  file->read_exact(4096, buffer.bytes());
  for (size_t i = 0; i < buffer.size(); ++i)
    ASSERT_EQ(std::to_integer<unsigned char>(buffer.data()[i]), expected_byte(4096 + i));
  try {
    file->read_exact(100, buffer.bytes());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("aligned"));
  }
}

TEST(AlignedBuffer, IsAlignedAndZeroed) {
  AlignedBuffer b(10000);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % 4096, 0u);
  EXPECT_EQ(b.size(), 10000u);
  for (size_t i = 0; i < b.size(); ++i) ASSERT_EQ(std::to_integer<int>(b.data()[i]), 0);
}

TEST(IoMode, NamesRoundTrip) {
  for (IoMode m :
       {IoMode::kPread, IoMode::kDirect, IoMode::kDontneed, IoMode::kMmap, IoMode::kUring}) {
    IoMode parsed;
    ASSERT_TRUE(parse_enum(enum_name(m), &parsed));
    EXPECT_EQ(parsed, m);
  }
  IoMode parsed;
  EXPECT_FALSE(parse_enum("fast", &parsed));
}

}  // namespace
}  // namespace streammoe
