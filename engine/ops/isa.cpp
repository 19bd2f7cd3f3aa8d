#include "engine/ops/isa.h"

#include <algorithm>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "engine/util/error.h"

namespace streammoe {

bool kernel_isa_compiled(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::kScalar:
      return true;
    case KernelIsa::kAvx2:
#if defined(STREAMMOE_HAVE_AVX2)
      return true;
#else
      return false;
#endif
    case KernelIsa::kAvxVnni:
#if defined(STREAMMOE_HAVE_AVXVNNI)
      return true;
#else
      return false;
#endif
    case KernelIsa::kAvx512Vnni:
#if defined(STREAMMOE_HAVE_AVX512VNNI)
      return true;
#else
      return false;
#endif
  }
  return false;
}

#if defined(__x86_64__) || defined(__i386__)
namespace {

// AVX-VNNI is CPUID leaf 7, sub-leaf 1, EAX bit 4. Read directly: clang 14's
// __builtin_cpu_supports does not know the name (gcc 12's does).
bool cpu_has_avx_vnni() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) && (eax & (1u << 4)) != 0;
}

}  // namespace
#endif

bool cpu_has_kernel_isa(KernelIsa isa) {
#if defined(__x86_64__) || defined(__i386__)
  // libgcc's feature bits also check that the OS saves the AVX / AVX-512 register state.
  switch (isa) {
    case KernelIsa::kScalar:
      return true;
    case KernelIsa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case KernelIsa::kAvxVnni:
      return __builtin_cpu_supports("avx2") && cpu_has_avx_vnni();
    case KernelIsa::kAvx512Vnni:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
  }
  return false;
#else
  return isa == KernelIsa::kScalar;
#endif
}

bool kernel_isa_available(KernelIsa isa) {
  return kernel_isa_compiled(isa) && cpu_has_kernel_isa(isa);
}

KernelIsa best_kernel_isa() {
  return kernel_isa_available(KernelIsa::kAvx2) ? KernelIsa::kAvx2 : KernelIsa::kScalar;
}

KernelIsa best_int8_kernel_isa() {
  for (KernelIsa isa : {KernelIsa::kAvx512Vnni, KernelIsa::kAvxVnni, KernelIsa::kAvx2})
    if (kernel_isa_available(isa)) return isa;
  return KernelIsa::kScalar;
}

void require_kernel_isa(KernelIsa isa, const char* what) {
  if (!kernel_isa_compiled(isa)) {
    const char* option = isa == KernelIsa::kAvx2      ? "STREAMMOE_AVX2"
                         : isa == KernelIsa::kAvxVnni ? "STREAMMOE_AVXVNNI"
                                                      : "STREAMMOE_AVX512VNNI";
    fail("{}: {} kernels are not in this build (configure with -D{}=ON)", what,
         enum_name(isa), option);
  }
  if (!cpu_has_kernel_isa(isa))
    fail("{}: this CPU does not have the {} instructions", what, enum_name(isa));
}

void require_kernel_isa(KernelIsa isa, std::span<const KernelIsa> family, const char* what) {
  if (std::find(family.begin(), family.end(), isa) == family.end()) {
    std::string names;
    for (KernelIsa f : family) names += fmt::format("{}{}", names.empty() ? "" : ", ", enum_name(f));
    fail("{}: there is no {} kernel (kernels: {})", what, enum_name(isa), names);
  }
  require_kernel_isa(isa, what);
}

}  // namespace streammoe
