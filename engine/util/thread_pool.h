#pragma once
// A small fixed pool of worker threads for splitting a loop over rows. The calling thread works
// too, so ThreadPool(2) starts one extra thread. parallel_for allocates nothing per call: the
// task is passed as a pointer to the caller's callable, which outlives the call because the
// caller waits for every range to finish before returning.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace streammoe {

class ThreadPool {
 public:
  // threads: total workers including the caller (>= 1). 0 means std::thread::hardware_concurrency.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return thread_count_; }

  // Calls fn(begin, end) on disjoint, non-empty ranges that together cover [0, n), spread over
  // the pool's threads, and returns when all are done. An exception thrown by fn is rethrown
  // here (the first one; the other ranges still run). Safe to call from one thread at a time; a
  // nested or concurrent call is an Error rather than a deadlock.
  template <typename Fn>
  void parallel_for(int64_t n, Fn&& fn) {
    using F = std::remove_reference_t<Fn>;
    run(n, static_cast<const void*>(&fn), [](const void* f, int64_t begin, int64_t end) {
      (*static_cast<F*>(const_cast<void*>(f)))(begin, end);
    });
  }

 private:
  using Trampoline = void (*)(const void* fn, int64_t begin, int64_t end);

  void run(int64_t n, const void* fn, Trampoline call);
  void worker_loop();
  // Claims ranges of the current task until none are left.
  void work_on_current_task();

  int thread_count_ = 1;
  std::vector<std::thread> workers_;

  // The current task: written by the caller under mutex_ before generation_ is bumped, read by
  // workers after they see the new generation.
  const void* task_fn_ = nullptr;
  Trampoline task_call_ = nullptr;
  int64_t task_size_ = 0;
  int64_t task_chunk_ = 1;
  std::atomic<int64_t> next_begin_{0};

  // Changed only under mutex_ (so that no wakeup is lost); atomic so that waiters can spin on
  // them for a moment before sleeping, which saves a futex round trip between back-to-back calls.
  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable work_done_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> workers_busy_{0};  // workers that have not finished the current generation
  bool stopping_ = false;
  std::atomic<bool> in_use_{false};

  std::mutex error_mutex_;
  std::exception_ptr first_error_;
};

}  // namespace streammoe
