// Library versions of the trainer's stack, for summary.json provenance (torch-free header).
#pragma once

#include <string>

namespace batchlab::realtrain {

std::string torch_version();
std::string mpi_library_version();

}  // namespace batchlab::realtrain
