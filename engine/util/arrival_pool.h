#pragma once
// Threads that run a batch of indexed jobs while the caller consumes their results as each one
// completes: the caller is never one of the workers (unlike ThreadPool, whose caller works too),
// so it is free to compute on job i while jobs j > i still run. Built for --expert-order arrival:
// the jobs are expert reads, the caller computes each expert as its read lands.
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/util/function_ref.h"

namespace streammoe {

class ArrivalPool {
 public:
  // `threads` workers (>= 1), none of them the caller.
  explicit ArrivalPool(int threads);
  ~ArrivalPool();
  ArrivalPool(const ArrivalPool&) = delete;
  ArrivalPool& operator=(const ArrivalPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()); }

  // Runs job(i) for every i in [0, n) on the workers and calls ready(i) on the calling thread for
  // each as it completes, in completion order; returns when every ready(i) has returned. The
  // first exception, of a job (rethrown when its index comes up) or of ready, ends the call: no
  // further job starts, and the running ones are waited for before it is rethrown, so no job
  // outlives the call. One caller at a time: a concurrent call is an Error.
  void run(size_t n, FunctionRef<void(size_t)> job, FunctionRef<void(size_t)> ready);

 private:
  void worker_loop();
  // Stops handing out jobs and waits for the running ones (run's exit path, normal or not).
  void finish();

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable work_ready_;  // workers: a job to claim, or stopping_
  std::condition_variable arrived_;     // the caller: an arrival, or running_ == 0
  const FunctionRef<void(size_t)>* job_ = nullptr;
  size_t size_ = 0;     // jobs of the current run
  size_t next_ = 0;     // next job to claim
  size_t running_ = 0;  // claimed, not yet arrived
  std::vector<size_t> arrivals_;             // job indices in completion order
  std::vector<std::exception_ptr> errors_;   // by job index
  bool stopping_ = false;
  std::atomic<bool> in_use_{false};
};

}  // namespace streammoe
