#include "engine/util/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "engine/util/error.h"

namespace streammoe {
namespace {

// Every index of [0, n) is visited exactly once, by ranges that are non-empty and in bounds.
void expect_covers_once(ThreadPool& pool, int64_t n) {
  std::vector<std::atomic<int>> visits(static_cast<size_t>(n));
  std::atomic<bool> bad_range{false};
  pool.parallel_for(n, [&](int64_t begin, int64_t end) {
    if (begin < 0 || end > n || begin >= end) bad_range = true;
    for (int64_t i = begin; i < end; ++i) visits[i].fetch_add(1);
  });
  EXPECT_FALSE(bad_range) << "n=" << n;
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(visits[i].load(), 1) << "n=" << n << " i=" << i;
}

TEST(ThreadPool, CoversEveryIndexOnceForManySizes) {
  for (int threads : {1, 2, 3, 4}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (int64_t n : {0, 1, 2, 3, 7, 8, 9, 100, 1023, 10007}) expect_covers_once(pool, n);
  }
}

TEST(ThreadPool, ManyCallsInARowAllComplete) {
  ThreadPool pool(3);
  std::vector<int64_t> sums;
  for (int call = 0; call < 2000; ++call) {
    std::atomic<int64_t> sum{0};
    pool.parallel_for(257, [&](int64_t begin, int64_t end) {
      int64_t local = 0;
      for (int64_t i = begin; i < end; ++i) local += i;
      sum += local;
    });
    ASSERT_EQ(sum.load(), 257 * 256 / 2) << "call " << call;
  }
}

TEST(ThreadPool, UsesMoreThanOneThreadWhenThereIsEnoughWork) {
  ThreadPool pool(2);
  std::atomic<int> inside{0};
  std::atomic<int> max_inside{0};
  // Each range waits (up to a generous bound, for a loaded machine) for a second thread to
  // enter: with two threads working this happens; if the pool ran everything on the caller,
  // max_inside would stay 1.
  pool.parallel_for(8, [&](int64_t, int64_t) {
    const int now = ++inside;
    int seen = max_inside.load();
    while (now > seen && !max_inside.compare_exchange_weak(seen, now)) {
    }
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (max_inside.load() < 2 && std::chrono::steady_clock::now() < give_up)
      std::this_thread::yield();
    --inside;
  });
  EXPECT_EQ(max_inside.load(), 2);
}

TEST(ThreadPool, RethrowsTheExceptionOfARangeAndStaysUsable) {
  ThreadPool pool(2);
  EXPECT_THROW(pool.parallel_for(100,
                                 [](int64_t begin, int64_t end) {
                                   if (begin <= 50 && 50 < end) throw std::runtime_error("row 50");
                                 }),
               std::runtime_error);
  expect_covers_once(pool, 100);
}

TEST(ThreadPool, NestedCallIsAnErrorNotADeadlock) {
  ThreadPool pool(2);
  EXPECT_THROW(pool.parallel_for(
                   4, [&](int64_t, int64_t) { pool.parallel_for(4, [](int64_t, int64_t) {}); }),
               Error);
  expect_covers_once(pool, 10);
}

TEST(ThreadPool, NegativeThreadCountIsAnError) { EXPECT_THROW(ThreadPool(-1), Error); }

TEST(ThreadPool, ZeroMeansHardwareConcurrency) {
  ThreadPool pool(0);
  EXPECT_GE(pool.size(), 1);
  expect_covers_once(pool, 33);
}

}  // namespace
}  // namespace streammoe
