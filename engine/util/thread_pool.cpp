#include "engine/util/thread_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "engine/util/error.h"

namespace streammoe {
namespace {

// More ranges than threads so that a thread slowed down by another process on a shared core
// does not hold up the whole call; few enough that claiming a range stays cheap.
constexpr int64_t kChunksPerThread = 4;
// How long a waiter polls before sleeping on the condition variable: about the gap between
// consecutive matvecs of one layer, so that back-to-back calls skip a futex round trip, and short
// enough not to starve other processes on a small shared machine. (A pause instruction costs
// 25-65 ns on the development EPYC, so the budget is time, not a count.)
constexpr auto kSpinBudget = std::chrono::microseconds(20);

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

template <typename Done>
void spin_until(Done done) {
  const auto give_up = std::chrono::steady_clock::now() + kSpinBudget;
  while (!done()) {
    for (int i = 0; i < 16; ++i) cpu_relax();
    if (std::chrono::steady_clock::now() > give_up) return;
  }
}

}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads < 0) fail("ThreadPool: thread count {} is negative", threads);
  if (threads == 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  thread_count_ = threads;
  workers_.reserve(threads - 1);
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    generation_.fetch_add(1, std::memory_order_release);
  }
  work_ready_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void ThreadPool::run(int64_t n, const void* fn, Trampoline call) {
  if (n <= 0) return;
  if (in_use_.exchange(true, std::memory_order_acquire))
    fail("ThreadPool: parallel_for called while another parallel_for is running");
  struct Release {
    std::atomic<bool>& flag;
    ~Release() { flag.store(false, std::memory_order_release); }
  } release{in_use_};

  const int64_t chunks = thread_count_ * kChunksPerThread;
  const int64_t chunk = std::max<int64_t>(1, (n + chunks - 1) / chunks);
  first_error_ = nullptr;
  // One range is not worth waking anyone for.
  const bool wake_workers = !workers_.empty() && n > chunk;
  {
    std::lock_guard lock(mutex_);
    task_fn_ = fn;
    task_call_ = call;
    task_size_ = n;
    task_chunk_ = chunk;
    next_begin_.store(0, std::memory_order_relaxed);
    if (wake_workers) {
      workers_busy_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
    }
  }
  if (wake_workers) work_ready_.notify_all();
  work_on_current_task();
  if (wake_workers) {
    spin_until([this] { return workers_busy_.load(std::memory_order_acquire) == 0; });
    std::unique_lock lock(mutex_);
    work_done_.wait(lock, [this] { return workers_busy_.load(std::memory_order_relaxed) == 0; });
  }
  if (first_error_) std::rethrow_exception(first_error_);
}

void ThreadPool::work_on_current_task() {
  for (;;) {
    const int64_t begin = next_begin_.fetch_add(task_chunk_, std::memory_order_relaxed);
    if (begin >= task_size_) return;
    const int64_t end = std::min(task_size_, begin + task_chunk_);
    try {
      task_call_(task_fn_, begin, end);
    } catch (...) {
      std::lock_guard lock(error_mutex_);
      if (!first_error_) first_error_ = std::current_exception();
    }
  }
}

void ThreadPool::worker_loop() {
  // Generation 0 is the state before any task, whenever this thread first gets to run.
  uint64_t seen = 0;
  for (;;) {
    spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; });
    {
      std::unique_lock lock(mutex_);
      work_ready_.wait(lock, [&] { return generation_.load(std::memory_order_relaxed) != seen; });
      seen = generation_.load(std::memory_order_relaxed);
      if (stopping_) return;
    }
    work_on_current_task();
    bool last;
    {
      std::lock_guard lock(mutex_);
      last = workers_busy_.fetch_sub(1, std::memory_order_acq_rel) == 1;
    }
    if (last) work_done_.notify_one();
  }
}

}  // namespace streammoe
