#include "engine/util/mapped_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "engine/util/error.h"

namespace streammoe {
namespace {

class MappedFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("streammoe_mapped_file_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path write(const std::string& name, const std::string& content) {
    const auto path = dir_ / name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }
  std::filesystem::path dir_;
};

TEST_F(MappedFileTest, MapsTheWholeFile) {
  const std::string content = std::string("hello\0world", 11) + std::string(10000, 'x');
  const auto path = write("a.bin", content);
  const MappedFile file(path);
  ASSERT_EQ(file.bytes().size(), content.size());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(file.bytes().data()), file.bytes().size()), content);
  EXPECT_EQ(file.path(), path);
  EXPECT_GE(file.fd(), 0);
}

TEST_F(MappedFileTest, EmptyFileIsEmptySpan) {
  const MappedFile file(write("empty.bin", ""));
  EXPECT_TRUE(file.bytes().empty());
}

TEST_F(MappedFileTest, MissingFileNamesThePath) {
  const auto path = dir_ / "does_not_exist.bin";
  try {
    MappedFile file(path);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }
}

TEST_F(MappedFileTest, DirectoryIsRefused) {
  try {
    MappedFile file(dir_);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
  }
}

// A FIFO named as a model file was waited on forever (open blocks until a writer appears); it is
// refused like any file that is not regular (found by the hostile corpus, case st_fifo).
TEST_F(MappedFileTest, FifoIsRefusedWithoutWaitingForAWriter) {
  const auto path = dir_ / "model.safetensors";
  ASSERT_EQ(::mkfifo(path.c_str(), 0644), 0);
  try {
    MappedFile file(path);
    FAIL() << "a FIFO was mapped";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.safetensors: not a regular file"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace streammoe
