#include "engine/ops/isa.h"

#include "engine/util/error.h"

namespace streammoe {

std::string_view kernel_isa_name(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::kScalar:
      return "scalar";
    case KernelIsa::kAvx2:
      return "avx2";
  }
  return "unknown";
}

bool parse_kernel_isa(std::string_view name, KernelIsa* out) {
  for (KernelIsa isa : {KernelIsa::kScalar, KernelIsa::kAvx2}) {
    if (name == kernel_isa_name(isa)) {
      *out = isa;
      return true;
    }
  }
  return false;
}

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
         kernel_isa_name(isa));
}

}  // namespace streammoe
