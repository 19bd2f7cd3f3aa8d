#pragma once
// Experts of a packed model folder (packed_format.h), streamed from SSD: fetch() reads the K
// routed experts of a layer with one positional read each, in parallel on a pool of I/O threads,
// into reused, pre-touched, aligned slot buffers, and hands out quantised views of them. Nothing
// else of the experts is resident. The views stay valid until the next fetch() of any layer.
// fetch_each (--expert-order arrival) hands each view out as its read lands: preads on I/O
// threads that exclude the caller (an ArrivalPool), or io_uring completions reaped one by one.
// In mmap mode nothing is read: the views point into read-only mappings of the expert files and
// the compute's page faults bring the bytes in (the reference system's "mmap" variant).
#include <filesystem>
#include <memory>
#include <vector>

#include "engine/io/aligned_buffer.h"
#include "engine/io/expert_file.h"
#include "engine/io/expert_source.h"
#include "engine/io/io_mode.h"
#include "engine/io/packed_format.h"
#include "engine/io/uring_reader.h"

namespace streammoe {

class ArrivalPool;
class ThreadPool;

class PackedExpertSource : public ExpertSource {
 public:
  // `slots`: experts one fetch may ask for (the model's K); a larger request grows the buffers.
  // Modes: pread, direct, dontneed, uring, mmap.
  PackedExpertSource(const std::filesystem::path& folder, const PackedManifest& manifest,
                     const ExpertIoOptions& io, int64_t slots);
  ~PackedExpertSource() override;

  void fetch(int64_t layer, std::span<const int32_t> experts,
             std::span<ExpertWeights> out) override;
  // mmap mode keeps the default (its views need no read to wait for).
  void fetch_each(int64_t layer, std::span<const int32_t> experts, std::span<ExpertWeights> out,
                  FunctionRef<void(size_t)> ready) override;

  bool has_records() const override { return true; }
  uint64_t record_bytes() const override { return layout_.expert_stride; }
  uint64_t record_read_bytes() const override { return read_bytes_; }
  uint64_t read_record(int64_t layer, int32_t e, std::span<std::byte> dst) const override;
  ExpertWeights view_record(int64_t layer, int32_t e, const std::byte* record) const override;
  std::vector<FileExtent> file_extents(int64_t layer, int32_t e) const override;

  uint64_t bytes_per_expert_read() const { return read_bytes_; }
  uint64_t buffer_bytes() const { return slots_.size() * layout_.expert_stride; }

 private:
  void ensure_slots(size_t count);
  // Checks a request and sizes the buffers for it.
  void prepare(int64_t layer, std::span<const int32_t> experts, std::span<ExpertWeights> out);
  // The io_uring reads of `experts` into the slot buffers; adds page-cache-resident bytes to *resident.
  std::vector<UringRead> uring_reads(int64_t layer, std::span<const int32_t> experts, uint64_t* resident);
  // The counters of one fetch of `count` experts, `resident` of whose bytes were in the page cache.
  void count_fetch(size_t count, uint64_t resident);
  const ExpertFile& file_of(int64_t layer, int32_t e) const;

  ExpertLayout layout_;
  int64_t num_experts_ = 0;
  ExpertIoOptions io_;
  uint64_t read_bytes_ = 0;  // expert_bytes, or the whole stride for O_DIRECT
  std::vector<std::unique_ptr<ExpertFile>> files_;  // by model layer; null for dense layers
  std::vector<AlignedBuffer> slots_;
  std::unique_ptr<ThreadPool> io_pool_;        // fetch: the caller reads too
  std::unique_ptr<ArrivalPool> arrival_pool_;  // fetch_each: the caller computes instead
  std::unique_ptr<UringReader> uring_;  // --io uring
  size_t uring_depth_ = 0;
};

}  // namespace streammoe
