#include "engine/ops/isa.h"

#include "engine/util/error.h"

namespace streammoe {

bool kernel_isa_available(KernelIsa isa) {
#if defined(STREAMMOE_HAVE_AVX2)
  return true;
#else
  return isa == KernelIsa::kScalar;
#endif
}

KernelIsa best_kernel_isa() {
  return kernel_isa_available(KernelIsa::kAvx2) ? KernelIsa::kAvx2 : KernelIsa::kScalar;
}

void require_kernel_isa(KernelIsa isa, const char* what) {
  if (!kernel_isa_available(isa))
    fail("{}: {} kernels are not in this build (configure with -DSTREAMMOE_AVX2=ON)", what,
         enum_name(isa));
}

}  // namespace streammoe
