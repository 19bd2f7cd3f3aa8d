// Variants with compile-time options: one build folder per option set, configured once (with
// exactly those -D options) and rebuilt incrementally; a failing build names its log.
#include "harness/engine_builder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/util/error.h"
#include "harness/mock_executor.h"
#include "lab_test_util.h"

namespace streammoe::lab {
namespace {

using ::testing::HasSubstr;

TEST(EngineBuilder, ConfiguresOncePerOptionSetAndBuildsEachTime) {
  testing::TempDir dir;
  MockExecutor executor([&](const Command& c) {
    // "cmake -S src -B dir ...": leave a CMakeCache.txt like CMake would.
    if (c.argv.size() > 4 && c.argv[1] == "-S") testing::write_text(std::filesystem::path(c.argv[4]) / "CMakeCache.txt", "");
    return MockExecutor::ok_reply("ok\n");
  });
  EngineBuilder builder("/src", dir / "builds", executor, "cmake", 2);
  std::map<std::string, std::string> native = {{"STREAMMOE_NATIVE", "ON"}};
  std::map<std::string, std::string> scalar = {{"STREAMMOE_AVX2", "OFF"}, {"CMAKE_BUILD_TYPE", "Debug"}};

  auto binary = builder.ensure_built(native);
  EXPECT_EQ(binary, builder.build_dir(native) / "bin" / "streammoe");
  EXPECT_NE(builder.build_dir(native), builder.build_dir(scalar));
  ASSERT_EQ(executor.calls().size(), 2u);
  EXPECT_THAT(executor.calls()[0].argv,
              ::testing::ElementsAre("cmake", "-S", "/src", "-B", builder.build_dir(native).string(),
                                     "-DSTREAMMOE_TESTS=OFF", "-DSTREAMMOE_BENCHMARKS=OFF",
                                     "-DCMAKE_BUILD_TYPE=Release", "-DSTREAMMOE_NATIVE=ON"));
  EXPECT_THAT(executor.calls()[1].argv,
              ::testing::ElementsAre("cmake", "--build", builder.build_dir(native).string(),
                                     "--target", "streammoe", "-j", "2"));

  builder.ensure_built(native);  // cached: build only
  ASSERT_EQ(executor.calls().size(), 3u);
  EXPECT_EQ(executor.calls()[2].argv[1], "--build");

  builder.ensure_built(scalar);  // a second set: its own folder, its own configure
  ASSERT_EQ(executor.calls().size(), 5u);
  EXPECT_THAT(executor.calls()[3].argv, ::testing::Contains("-DCMAKE_BUILD_TYPE=Debug"));
  EXPECT_THAT(executor.calls()[3].argv, ::testing::Not(::testing::Contains("-DCMAKE_BUILD_TYPE=Release")));
  EXPECT_THAT(testing::read_text(builder.build_dir(native) / "lab-build.log"), HasSubstr("$ cmake --build"));
}

TEST(EngineBuilder, FailedBuildNamesTheLog) {
  testing::TempDir dir;
  MockExecutor executor([](const Command&) {
    MockReply r;
    r.result.exit_code = 2;
    r.result.stderr_tail = "CMake Error: no such option\n";
    return r;
  });
  EngineBuilder builder("/src", dir / "builds", executor);
  try {
    builder.ensure_built({{"STREAMMOE_NATIVE", "ON"}});
    FAIL() << "a failed configure did not throw";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("configure failed (exit 2); see "));
    EXPECT_THAT(e.what(), HasSubstr("lab-build.log"));
  }
}

}  // namespace
}  // namespace streammoe::lab
