#include "engine/io/uring_reader.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <numeric>
#include <vector>

#include "engine/util/error.h"

namespace streammoe {
namespace {

namespace fs = std::filesystem;

#ifdef STREAMMOE_HAVE_URING

class UringReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = fs::temp_directory_path() / ("uring_reader_" + std::to_string(::getpid()) + ".bin");
    bytes_.resize(100000);
    std::iota(bytes_.begin(), bytes_.end(), 0);  // wraps at 256: position-dependent content
    std::ofstream(path_, std::ios::binary).write(reinterpret_cast<const char*>(bytes_.data()), bytes_.size());
    fd_ = ::open(path_.c_str(), O_RDONLY);
    ASSERT_GE(fd_, 0);
  }
  void TearDown() override {
    ::close(fd_);
    fs::remove(path_);
  }
  fs::path path_;
  std::vector<unsigned char> bytes_;
  int fd_ = -1;
};

TEST_F(UringReaderTest, ReadsEveryRequestAtItsOffset) {
  UringReader reader(2);  // fewer slots than requests: batches
  std::vector<std::vector<std::byte>> buffers(5, std::vector<std::byte>(7000));
  std::vector<UringRead> reads;
  const uint64_t offsets[] = {0, 12345, 50000, 93000, 4096};
  for (size_t i = 0; i < buffers.size(); ++i) reads.push_back({fd_, offsets[i], buffers[i], &path_});
  reader.read_all(reads);
  for (size_t i = 0; i < buffers.size(); ++i)
    for (size_t j = 0; j < buffers[i].size(); j += 997)
      ASSERT_EQ(static_cast<unsigned char>(buffers[i][j]), bytes_[offsets[i] + j]) << i << " " << j;
}

// read_each (--expert-order arrival): each request reported once, complete when reported; an
// error from the callback leaves no read behind in the ring for the next call.
TEST_F(UringReaderTest, ReadEachReportsEveryRequestOnceWhenComplete) {
  UringReader reader(2);
  std::vector<std::vector<std::byte>> buffers(5, std::vector<std::byte>(7000));
  std::vector<UringRead> reads;
  const uint64_t offsets[] = {0, 12345, 50000, 93000, 4096};
  for (size_t i = 0; i < buffers.size(); ++i) reads.push_back({fd_, offsets[i], buffers[i], &path_});
  const auto check = [&](size_t i) {
    for (size_t j = 0; j < buffers[i].size(); j += 997)
      ASSERT_EQ(static_cast<unsigned char>(buffers[i][j]), bytes_[offsets[i] + j]) << i << " " << j;
  };
  std::vector<int> reported(buffers.size(), 0);
  reader.read_each(reads, [&](size_t i) {
    reported.at(i) += 1;
    check(i);
  });
  EXPECT_THAT(reported, ::testing::Each(1));

  EXPECT_THROW(reader.read_each(reads, [](size_t) { throw Error("compute failed"); }), Error);
  for (auto& b : buffers) std::fill(b.begin(), b.end(), std::byte{0});
  std::fill(reported.begin(), reported.end(), 0);
  reader.read_each(reads, [&](size_t i) {
    reported.at(i) += 1;
    check(i);
  });
  EXPECT_THAT(reported, ::testing::Each(1));
}

TEST_F(UringReaderTest, ReadPastTheEndNamesTheFile) {
  UringReader reader(4);
  std::vector<std::byte> buffer(2000);
  UringRead read{fd_, bytes_.size() - 1000, buffer, &path_};
  try {
    reader.read_all({&read, 1});
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr(path_.string()));
    EXPECT_THAT(e.what(), ::testing::HasSubstr("end of the file"));
  }
}

#else

TEST(UringReader, RefusedWithoutLiburing) { EXPECT_THROW(UringReader(4), Error); }

#endif

}  // namespace
}  // namespace streammoe
