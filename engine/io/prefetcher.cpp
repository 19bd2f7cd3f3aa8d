#include "engine/io/prefetcher.h"

#include <array>

#include "engine/io/expert_file.h"
#include "engine/util/error.h"

namespace streammoe {
WillneedPrefetcher::WillneedPrefetcher(ExpertSource& source) : source_(source) {
  if (!source.has_records())
    fail("WILLNEED prefetch: the expert source has no file ranges to advise (mapped experts)");
}

void WillneedPrefetcher::prefetch(int64_t layer, std::vector<int32_t> experts) {
  ExpertIoStats& stats = source_.mutable_stats();
  stats.prefetch_requests += experts.size();
  for (int32_t e : experts) {
    for (const FileExtent& x : source_.file_extents(layer, e)) {
      x.file->advise_willneed(x.offset, x.bytes);
      stats.prefetched_bytes += x.bytes;
    }
    stats.prefetched_experts += 1;
  }
}

BackgroundPrefetcher::BackgroundPrefetcher(std::unique_ptr<Prefetcher> inner)
    : inner_(std::move(inner)), thread_([this] { run(); }) {}

BackgroundPrefetcher::~BackgroundPrefetcher() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void BackgroundPrefetcher::prefetch(int64_t layer, std::vector<int32_t> experts) {
  {
    std::lock_guard lock(mu_);
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
    queue_.emplace_back(layer, std::move(experts));
  }
  cv_.notify_all();
}

void BackgroundPrefetcher::wait() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return queue_.empty() && !busy_; });
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

void BackgroundPrefetcher::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    auto [layer, experts] = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    try {
      inner_->prefetch(layer, std::move(experts));
    } catch (...) {
      lock.lock();
      error_ = std::current_exception();
      lock.unlock();
    }
    lock.lock();
    busy_ = false;
    cv_.notify_all();
  }
}

}  // namespace streammoe
