#include "engine/util/arrival_pool.h"

#include <algorithm>

#include "engine/util/error.h"

namespace streammoe {

ArrivalPool::ArrivalPool(int threads) {
  if (threads < 1) fail("ArrivalPool: needs at least one worker thread, got {}", threads);
  workers_.reserve(threads);
  for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ArrivalPool::~ArrivalPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void ArrivalPool::run(size_t n, FunctionRef<void(size_t)> job, FunctionRef<void(size_t)> ready) {
  if (n == 0) return;
  if (in_use_.exchange(true, std::memory_order_acquire))
    fail("ArrivalPool: run called while another run is in progress");
  struct Release {
    std::atomic<bool>& flag;
    ~Release() { flag.store(false, std::memory_order_release); }
  } release{in_use_};
  {
    std::lock_guard lock(mutex_);
    job_ = &job;
    size_ = n;
    next_ = 0;
    running_ = 0;
    arrivals_.clear();
    arrivals_.reserve(n);
    errors_.assign(n, nullptr);
  }
  for (size_t i = 0; i < std::min(n, workers_.size()); ++i) work_ready_.notify_one();
  struct Finish {
    ArrivalPool& pool;
    ~Finish() { pool.finish(); }
  } finish_on_exit{*this};
  for (size_t delivered = 0; delivered < n; ++delivered) {
    size_t i = 0;
    std::exception_ptr error;
    {
      std::unique_lock lock(mutex_);
      arrived_.wait(lock, [&] { return arrivals_.size() > delivered; });
      i = arrivals_[delivered];
      error = errors_[i];
    }
    if (error) std::rethrow_exception(error);
    ready(i);
  }
}

void ArrivalPool::finish() {
  std::unique_lock lock(mutex_);
  next_ = size_;
  arrived_.wait(lock, [&] { return running_ == 0; });
  job_ = nullptr;
}

void ArrivalPool::worker_loop() {
  for (;;) {
    size_t i = 0;
    const FunctionRef<void(size_t)>* job = nullptr;
    {
      std::unique_lock lock(mutex_);
      work_ready_.wait(lock, [&] { return stopping_ || next_ < size_; });
      if (stopping_) return;
      i = next_++;
      ++running_;
      job = job_;
    }
    std::exception_ptr error;
    try {
      (*job)(i);
    } catch (...) {
      error = std::current_exception();
    }
    {
      std::lock_guard lock(mutex_);
      errors_[i] = error;
      arrivals_.push_back(i);
      --running_;
    }
    arrived_.notify_one();  // only the caller waits on it
  }
}

}  // namespace streammoe
