#include "engine/io/hf_expert_source.h"

#include <atomic>

#include "engine/models/tensor_table.h"
#include "engine/util/error.h"
#include "engine/util/thread_pool.h"

namespace streammoe {

HfExpertSource::HfExpertSource(const WeightLoader& w, const ModelConfig& c,
                               const ExpertIoOptions& io, int64_t slots)
    : io_(io), num_experts_(c.num_experts), plans_(c.num_layers) {
  if (io.mode != IoMode::kPread && io.mode != IoMode::kDontneed)
    fail("{}: io mode '{}' cannot read the experts of a Hugging Face folder",
         w.store().folder().string(), enum_name(io.mode));
  const ModelTensors tensors(c);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    if (c.ffn_types[l] != FfnKind::kMoe) continue;
    auto& plans = plans_[l];
    plans.resize(c.num_experts);
    for (int64_t e = 0; e < c.num_experts; ++e) {
      const StoredExpert x = locate_expert(w.store(), tensors, l, e);
      ExpertPlan& p = plans[e];
      // A matrix that follows the previous one in the same tensor (fused gate, up) joins its
      // read; any other starts a read on the next aligned offset of the slot.
      const StoredMatrix* previous = nullptr;
      for (auto [m, matrix] : {std::pair{&x.gate, &p.gate}, std::pair{&x.up, &p.up},
                               std::pair{&x.down, &p.down}}) {
        const uint64_t offset = m->tensor->file_offset + m->offset, bytes = m->bytes();
        if (previous && previous->tensor == m->tensor &&
            previous->offset + previous->bytes() == m->offset) {
          Read& r = p.reads.back();
          *matrix = {m->tensor->dtype, m->rows, m->cols, r.dest + r.bytes};
          r.bytes += bytes;
        } else {
          const Read* last = p.reads.empty() ? nullptr : &p.reads.back();
          const uint64_t dest = last ? round_up(last->dest + last->bytes, kDirectIoAlignment) : 0;
          p.reads.push_back({file_index(*m->tensor), offset, bytes, dest});
          *matrix = {m->tensor->dtype, m->rows, m->cols, dest};
        }
        previous = m;
      }
    }
  }
  for (const auto& layer : plans_)
    for (const auto& p : layer) {
      for (const Read& r : p.reads) slot_bytes_ = std::max(slot_bytes_, r.dest + r.bytes);
    }
  ensure_slots(static_cast<size_t>(std::max<int64_t>(slots, 1)));
}

HfExpertSource::~HfExpertSource() = default;

int HfExpertSource::file_index(const TensorInfo& t) {
  for (size_t i = 0; i < files_.size(); ++i)
    if (files_[i]->path() == t.file) return static_cast<int>(i);
  files_.push_back(std::make_unique<ExpertFile>(t.file, io_.mode, io_.readahead));
  return static_cast<int>(files_.size() - 1);
}

void HfExpertSource::ensure_slots(size_t count) {
  while (slots_.size() < count) slots_.emplace_back(slot_bytes_, kDirectIoAlignment);
  const int threads = io_.io_threads > 0 ? io_.io_threads : static_cast<int>(slots_.size());
  if (!io_pool_ || io_pool_->size() != threads) io_pool_ = std::make_unique<ThreadPool>(threads);
}

const HfExpertSource::ExpertPlan& HfExpertSource::plan_of(int64_t layer, int32_t e) const {
  if (layer < 0 || layer >= static_cast<int64_t>(plans_.size()) || plans_[layer].empty())
    fail("HF experts: layer {} has no experts", layer);
  if (e < 0 || e >= num_experts_) fail("layer {}: expert {} out of range [0, {})", layer, e, num_experts_);
  return plans_[layer][e];
}

uint64_t HfExpertSource::record_read_bytes() const {
  uint64_t most = 0;
  for (const auto& layer : plans_)
    for (const auto& p : layer) {
      uint64_t bytes = 0;
      for (const Read& r : p.reads) bytes += r.bytes;
      most = std::max(most, bytes);
    }
  return most;
}

uint64_t HfExpertSource::read_record(int64_t layer, int32_t e, std::span<std::byte> dst) const {
  const ExpertPlan& p = plan_of(layer, e);
  if (dst.size() < slot_bytes_) fail("HF experts: record buffer of {} bytes < {}", dst.size(), slot_bytes_);
  uint64_t resident = 0;
  for (const Read& r : p.reads) {
    resident += files_[r.file]->resident_bytes(r.offset, r.bytes);
    files_[r.file]->read_exact(r.offset, dst.subspan(r.dest, r.bytes));
  }
  return resident;
}

ExpertWeights HfExpertSource::view_record(int64_t layer, int32_t e, const std::byte* slot) const {
  const ExpertPlan& p = plan_of(layer, e);
  auto view = [slot](const Matrix& m) { return MatRef{m.dtype, slot + m.dest, m.rows, m.cols}; };
  return ExpertWeights{view(p.gate), view(p.up), view(p.down)};
}

std::vector<FileExtent> HfExpertSource::file_extents(int64_t layer, int32_t e) const {
  std::vector<FileExtent> extents;
  for (const Read& r : plan_of(layer, e).reads) extents.push_back({files_[r.file].get(), r.offset, r.bytes});
  return extents;
}

void HfExpertSource::fetch(int64_t layer, std::span<const int32_t> experts,
                           std::span<ExpertWeights> out) {
  if (out.size() < experts.size())
    fail("HF experts: {} outputs for {} experts", out.size(), experts.size());
  uint64_t bytes = 0;
  for (int32_t e : experts)
    for (const Read& r : plan_of(layer, e).reads) bytes += r.bytes;
  ensure_slots(experts.size());
  std::atomic<uint64_t> resident{0};
  io_pool_->parallel_for(static_cast<int64_t>(experts.size()), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) resident += read_record(layer, experts[i], slots_[i].bytes());
  });
  for (size_t i = 0; i < experts.size(); ++i) out[i] = view_record(layer, experts[i], slots_[i].data());
  stats_.fetches += 1;
  stats_.experts_loaded += experts.size();
  stats_.bytes_read += bytes;
  stats_.bytes_from_page_cache += std::min(resident.load(), bytes);
  stats_.bytes_from_disk += bytes - std::min(resident.load(), bytes);
}

}  // namespace streammoe
