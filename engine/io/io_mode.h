#pragma once
// How expert bytes travel from the files into memory: one switch, read at one place (the expert
// source factory in Model::load). The modes are declared together so that adding one is filling
// in a case, not adding a parameter.
#include <string_view>

namespace streammoe {

enum class IoMode {
  kPread,     // pread into reused, pre-touched, aligned buffers (through the page cache)
  kDirect,    // the same with O_DIRECT (packed models: 4096-aligned strides), bypassing the cache
  kDontneed,  // pread, then posix_fadvise(DONTNEED) on what was read (cold-cache runs)
  kMmap,      // views into mmap'd files, nothing copied (HF folders: the original source)
  kUring,     // io_uring submission of the K reads
};

std::string_view io_mode_name(IoMode mode);  // "pread", "direct", "dontneed", "mmap", "uring"
bool parse_io_mode(std::string_view name, IoMode* out);

struct ExpertIoOptions {
  IoMode mode = IoMode::kPread;
  int io_threads = 0;  // parallel reads per fetch; 0: one per routed expert (K)
};

}  // namespace streammoe
