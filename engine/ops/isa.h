#pragma once
// Which instruction set a kernel runs on. Every kernel has a scalar reference; the AVX2+FMA
// variants exist only when the build has STREAMMOE_AVX2 on (STREAMMOE_HAVE_AVX2 defined).
#include "engine/util/name_table.h"

namespace streammoe {

enum class KernelIsa { kScalar, kAvx2 };

inline constexpr NameTable<KernelIsa, 2> kKernelIsaNames{{{{KernelIsa::kScalar, "scalar"}, {KernelIsa::kAvx2, "avx2"}}}};
constexpr const auto& name_table(KernelIsa) { return kKernelIsaNames; }
bool kernel_isa_available(KernelIsa isa);  // compiled into this build
KernelIsa best_kernel_isa();
// Throws Error naming `what` if isa is not compiled into this build.
void require_kernel_isa(KernelIsa isa, const char* what);

}  // namespace streammoe
