#pragma once
// How expert bytes travel from the files into memory: one switch, acted on where the expert
// pipeline is built (engine/runtime/expert_pipeline.cpp) and by the sources' reads. The modes are declared together so that adding one is filling
// in a case, not adding a parameter.
#include "engine/util/name_table.h"

namespace streammoe {

enum class IoMode {
  kPread,     // pread into reused, pre-touched, aligned buffers (through the page cache)
  kDirect,    // the same with O_DIRECT (packed models: 4096-aligned strides), bypassing the cache
  kDontneed,  // pread, then posix_fadvise(DONTNEED) on what was read (cold-cache runs)
  kMmap,      // views into mmap'd files, nothing copied, page faults read them
  kUring,     // io_uring submission of the K reads
};

inline constexpr NameTable<IoMode, 5> kIoModeNames{{{
    {IoMode::kPread, "pread", "pread into reused aligned buffers, through the page cache"},
    {IoMode::kDirect, "direct", "pread with O_DIRECT, bypassing the page cache (packed models)"},
    {IoMode::kDontneed, "dontneed", "pread, then posix_fadvise(DONTNEED) on what was read"},
    {IoMode::kMmap, "mmap", "views into mmap'd expert files, read by page faults, nothing copied"},
    {IoMode::kUring, "uring", "the K reads of a layer submitted together on one io_uring (packed models)"},
}}};
constexpr const auto& name_table(IoMode) { return kIoModeNames; }

struct ExpertIoOptions {
  IoMode mode = IoMode::kPread;
  int io_threads = 0;  // parallel reads per fetch; 0: one per routed expert (K)
};

}  // namespace streammoe
