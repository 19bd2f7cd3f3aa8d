// Cold and warm page-cache states, measured with mincore(): evicting a folder drops its pages,
// warming brings them back. Skipped on file systems that cannot evict (tmpfs).
#include "harness/cache_control.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include "lab_test_util.h"

namespace streammoe::lab {
namespace {

TEST(CacheControl, EvictThenWarmAFolder) {
  testing::TempDir dir;
  std::string block(1 << 20, 'x');
  std::string data;
  for (int i = 0; i < 8; ++i) data += block;
  testing::write_text(dir / "model/model.safetensors", data);
  testing::write_text(dir / "model/sub/config.json", "{}");
  ::sync();  // dirty pages cannot be evicted

  CacheReport warm = warm_files(dir / "model");
  EXPECT_EQ(warm.files, 2);
  EXPECT_EQ(warm.bytes, data.size() + 2);
  double resident = resident_fraction(dir / "model/model.safetensors");
  ASSERT_GE(resident, 0) << "mincore unavailable";
  EXPECT_GT(resident, 0.99);

  CacheReport evicted = evict_files(dir / "model", /*drop_caches_too=*/false);
  EXPECT_EQ(evicted.files, 2);
  EXPECT_EQ(evicted.bytes, data.size() + 2);
  double after = resident_fraction(dir / "model/model.safetensors");
  if (after > 0.99) GTEST_SKIP() << "this file system keeps pages resident (tmpfs?)";
  EXPECT_LT(after, 0.05);

  warm_files(dir / "model");
  EXPECT_GT(resident_fraction(dir / "model/model.safetensors"), 0.99);
}

TEST(CacheControl, DropCachesWritesThreeOrSaysWhy) {
  // A stand-in control file: the real one would empty the page cache of everyone on the machine.
  testing::TempDir dir;
  testing::write_text(dir / "drop_caches", "");
  std::string why;
  bool dropped = drop_system_caches(why, dir / "drop_caches");
  if (::geteuid() != 0) {
    EXPECT_FALSE(dropped);
    EXPECT_EQ(why, "drop_caches needs root");
  } else {
    EXPECT_TRUE(dropped) << why;
    EXPECT_EQ(testing::read_text(dir / "drop_caches"), "3");
    EXPECT_FALSE(drop_system_caches(why, dir / "missing/drop_caches"));
    EXPECT_THAT(why, ::testing::HasSubstr("missing/drop_caches: No such file"));
  }
}

TEST(CacheControl, MissingPathsAreNotAnError) {
  CacheReport r = evict_files("/nonexistent/model", false);
  EXPECT_EQ(r.files, 0);
  EXPECT_EQ(resident_fraction("/nonexistent/file"), -1);
}

}  // namespace
}  // namespace streammoe::lab
