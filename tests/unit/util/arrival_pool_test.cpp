// ArrivalPool: jobs run on the pool's threads, never the caller's; the caller gets each index
// once, as its job completes, and can act on it while later jobs still run; an error ends the run
// only after every running job has finished.
#include "engine/util/arrival_pool.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <numeric>
#include <thread>

#include "engine/util/error.h"

namespace streammoe {
namespace {

using namespace std::chrono_literals;

// A flag one thread waits on (bounded, so a broken pool fails the test instead of hanging it).
class Flag {
 public:
  void set() {
    {
      std::lock_guard lock(mu_);
      set_ = true;
    }
    cv_.notify_all();
  }
  bool wait() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 10s, [&] { return set_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool set_ = false;
};

TEST(ArrivalPool, HandsIndicesToTheCallerInCompletionOrder) {
  constexpr size_t n = 4;
  ArrivalPool pool(n);
  std::array<Flag, n> handed;
  std::vector<size_t> order;
  std::vector<std::thread::id> job_threads(n), ready_threads;
  // Job i finishes only once the caller has been handed job i + 1: the completions come in
  // reverse, and each is handed out while the jobs before it still run.
  pool.run(
      n,
      [&](size_t i) {
        job_threads[i] = std::this_thread::get_id();
        if (i + 1 < n) {
          ASSERT_TRUE(handed[i + 1].wait());
        }
      },
      [&](size_t i) {
        order.push_back(i);
        ready_threads.push_back(std::this_thread::get_id());
        handed[i].set();
      });
  EXPECT_EQ(order, (std::vector<size_t>{3, 2, 1, 0}));
  for (std::thread::id id : ready_threads) EXPECT_EQ(id, std::this_thread::get_id());
  for (std::thread::id id : job_threads) EXPECT_NE(id, std::this_thread::get_id());
}

TEST(ArrivalPool, TheCallerActsOnAnArrivalWhileLaterJobsStillRun) {
  ArrivalPool pool(2);
  Flag caller_saw_zero;
  bool job_one_saw_the_caller = false;
  std::vector<size_t> order;
  pool.run(
      2,
      [&](size_t i) {
        if (i == 1) job_one_saw_the_caller = caller_saw_zero.wait();  // a pool that waited for all would time out
      },
      [&](size_t i) {
        order.push_back(i);
        if (i == 0) caller_saw_zero.set();
      });
  EXPECT_TRUE(job_one_saw_the_caller);
  EXPECT_EQ(order, (std::vector<size_t>{0, 1}));
}

TEST(ArrivalPool, EveryIndexArrivesOnceWithMoreJobsThanThreads) {
  ArrivalPool pool(3);
  for (size_t n : {0u, 1u, 5u, 100u}) {
    std::vector<int> calls(n, 0);
    std::vector<size_t> order;
    pool.run(n, [&](size_t i) { calls[i] += 1; }, [&](size_t i) { order.push_back(i); });
    EXPECT_THAT(calls, ::testing::Each(1));
    std::sort(order.begin(), order.end());
    std::vector<size_t> all(n);
    std::iota(all.begin(), all.end(), 0);
    EXPECT_EQ(order, all);
  }
}

TEST(ArrivalPool, AJobErrorIsRethrownAndThePoolStaysUsable) {
  ArrivalPool pool(2);
  try {
    pool.run(
        3, [](size_t i) { if (i == 1) fail("read {} failed", i); }, [](size_t) {});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("read 1 failed"));
  }
  size_t arrivals = 0;
  pool.run(3, [](size_t) {}, [&](size_t) { ++arrivals; });
  EXPECT_EQ(arrivals, 3u);
}

TEST(ArrivalPool, AReadyErrorWaitsForTheRunningJobs) {
  ArrivalPool pool(2);
  std::atomic<bool> slow_job_done{false};
  Flag slow_job_started, first_arrived;
  try {
    pool.run(
        2,
        [&](size_t i) {
          if (i == 1) {
            slow_job_started.set();
            first_arrived.wait();  // still running when the caller throws
            std::this_thread::sleep_for(20ms);
            slow_job_done = true;
          }
        },
        [&](size_t) {  // job 0's arrival: job 1 cannot finish before it
          slow_job_started.wait();
          first_arrived.set();
          fail("compute failed");
        });
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("compute failed"));
  }
  EXPECT_TRUE(slow_job_done.load());  // no job outlives the run
}

TEST(ArrivalPool, NeedsAWorker) { EXPECT_THROW(ArrivalPool(0), Error); }

}  // namespace
}  // namespace streammoe
