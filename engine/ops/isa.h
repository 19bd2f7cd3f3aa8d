#pragma once
// Which instruction set a kernel runs on. Every kernel family has a scalar reference; a SIMD
// variant exists when the build compiled it (a CMake option each: STREAMMOE_AVX2,
// STREAMMOE_AVXVNNI, STREAMMOE_AVX512VNNI) and is used only when this CPU has the instructions,
// checked at run time. The AVX-VNNI and AVX-512 VNNI kernels live in files compiled with their
// own flags, so a binary built with them still runs on a CPU that has only AVX2.
//
// Families and the instruction sets they have:
//   f32 kernels (dense_matvec, quant_matvec):  scalar, avx2
//   int8 kernels (quant_matvec_int8):          scalar, avx2, avxvnni, avx512vnni
#include <span>

#include "engine/util/name_table.h"

namespace streammoe {

enum class KernelIsa { kScalar, kAvx2, kAvxVnni, kAvx512Vnni };

inline constexpr KernelIsa kAllKernelIsas[] = {KernelIsa::kScalar, KernelIsa::kAvx2,
                                               KernelIsa::kAvxVnni, KernelIsa::kAvx512Vnni};
inline constexpr KernelIsa kF32KernelIsas[] = {KernelIsa::kScalar, KernelIsa::kAvx2};
inline constexpr KernelIsa kInt8KernelIsas[] = {KernelIsa::kScalar, KernelIsa::kAvx2,
                                                KernelIsa::kAvxVnni, KernelIsa::kAvx512Vnni};

inline constexpr NameTable<KernelIsa, 4> kKernelIsaNames{{{{KernelIsa::kScalar, "scalar"},
                                                          {KernelIsa::kAvx2, "avx2"},
                                                          {KernelIsa::kAvxVnni, "avxvnni"},
                                                          {KernelIsa::kAvx512Vnni, "avx512vnni"}}}};
constexpr const auto& name_table(KernelIsa) { return kKernelIsaNames; }
bool kernel_isa_compiled(KernelIsa isa);  // this build has kernels for it
bool cpu_has_kernel_isa(KernelIsa isa);   // this CPU (and OS) runs its instructions
bool kernel_isa_available(KernelIsa isa);  // both
// The best available instruction set of the f32 kernels (avx2 or scalar).
KernelIsa best_kernel_isa();
// The best available instruction set of the int8 kernels: avx512vnni, avxvnni, avx2, scalar.
KernelIsa best_int8_kernel_isa();
// Throws Error naming `what` if isa is not compiled into this build or this CPU lacks it.
void require_kernel_isa(KernelIsa isa, const char* what);
// The same, and Error unless isa is one of `family` (e.g. kF32KernelIsas).
void require_kernel_isa(KernelIsa isa, std::span<const KernelIsa> family, const char* what);

}  // namespace streammoe
