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

// Whether the kernel's readahead heuristics act on reads of expert files. With the device's
// read_ahead_kb (8 MB on this kind of VM) a read whose preceding bytes are cached looks
// sequential and pulls up to that much past the expert; a random access hint reads exactly the
// requested bytes. Prefetch advice (WILLNEED) is exact either way.
enum class Readahead {
  kKernel,  // the kernel's heuristics (the device's read_ahead_kb)
  kOff,     // posix_fadvise(RANDOM) on every expert file (madvise(RANDOM) on mmap'd ones)
};

inline constexpr NameTable<Readahead, 2> kReadaheadNames{{{
    {Readahead::kKernel, "kernel",
     "the kernel's readahead heuristics (the device's read_ahead_kb)"},
    {Readahead::kOff, "off",
     "posix_fadvise(RANDOM) on expert files: a read loads exactly its bytes"},
}}};
constexpr const auto& name_table(Readahead) { return kReadaheadNames; }

struct ExpertIoOptions {
  IoMode mode = IoMode::kPread;
  int io_threads = 0;  // parallel reads per fetch; 0: one per routed expert (K)
  Readahead readahead = Readahead::kKernel;
};

}  // namespace streammoe
