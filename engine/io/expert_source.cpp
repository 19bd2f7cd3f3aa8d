#include "engine/io/expert_source.h"

#include "engine/util/error.h"

namespace streammoe {

uint64_t ExpertSource::read_record(int64_t, int32_t, std::span<std::byte>) const {
  fail("this expert source has no byte records (expert caches need a packed or HF pread source)");
}

ExpertWeights ExpertSource::view_record(int64_t, int32_t, const std::byte*) const {
  fail("this expert source has no byte records (expert caches need a packed or HF pread source)");
}

std::vector<FileExtent> ExpertSource::file_extents(int64_t, int32_t) const { return {}; }

}  // namespace streammoe
