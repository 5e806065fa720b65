// Scalar reference table (always compiled). See kernels/kernels.h for the contracts.
#pragma once
#include "kernels/kernels.h"

namespace bertrank::kernels::ref {
const KernelTable& table();
}
