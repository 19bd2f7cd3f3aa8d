#pragma once
// Experts of a Hugging Face checkpoint read with pread at their offsets in the safetensors files,
// in their stored dtype (unquantised: the quality reference), into reused aligned slot buffers,
// in parallel on a pool of I/O threads. Both expert layouts of the tensor table
// (engine/models/tensor_table.h) are accepted: per-expert tensors (three reads) and fused 3-D
// ones (two reads: gate and up are adjacent).
// The views stay valid until the next fetch() of any layer.
#include <memory>
#include <vector>

#include "engine/io/aligned_buffer.h"
#include "engine/io/expert_file.h"
#include "engine/io/expert_source.h"
#include "engine/io/io_mode.h"
#include "engine/model/config.h"
#include "engine/model/weights.h"

namespace streammoe {

class ThreadPool;

class HfExpertSource : public ExpertSource {
 public:
  // Modes: pread, dontneed (O_DIRECT needs aligned offsets, which safetensors does not give).
  HfExpertSource(const WeightLoader& weights, const ModelConfig& config, const ExpertIoOptions& io,
                 int64_t slots);
  ~HfExpertSource() override;

  void fetch(int64_t layer, std::span<const int32_t> experts,
             std::span<ExpertWeights> out) override;

  bool has_records() const override { return true; }
  uint64_t record_bytes() const override { return slot_bytes_; }
  uint64_t record_read_bytes() const override;  // the largest expert's bytes
  uint64_t read_record(int64_t layer, int32_t e, std::span<std::byte> dst) const override;
  ExpertWeights view_record(int64_t layer, int32_t e, const std::byte* record) const override;
  std::vector<FileExtent> file_extents(int64_t layer, int32_t e) const override;

 private:
  struct Read {
    int file = 0;         // index into files_
    uint64_t offset = 0;  // absolute, in that file
    uint64_t bytes = 0;
    uint64_t dest = 0;  // offset in the slot buffer
  };
  struct Matrix {
    DType dtype = DType::kBF16;
    int64_t rows = 0, cols = 0;
    uint64_t dest = 0;
  };
  struct ExpertPlan {
    std::vector<Read> reads;  // 2 (fused) or 3 (per-expert)
    Matrix gate, up, down;
  };

  int file_index(const TensorInfo& t);
  const ExpertPlan& plan_of(int64_t layer, int32_t e) const;
  void ensure_slots(size_t count);

  ExpertIoOptions io_;
  int64_t num_experts_ = 0;
  uint64_t slot_bytes_ = 0;  // the largest expert's buffer extent
  std::vector<std::unique_ptr<ExpertFile>> files_;
  std::vector<std::vector<ExpertPlan>> plans_;  // [layer][expert]; empty for dense layers
  std::vector<AlignedBuffer> slots_;
  std::unique_ptr<ThreadPool> io_pool_;
};

}  // namespace streammoe
