#include "realtrain/provenance.h"

#include <mpi.h>
#include <torch/torch.h>

namespace batchlab::realtrain {

std::string torch_version() {
  return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH);
}

std::string mpi_library_version() {
  char buf[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(buf, &len);
  std::string s(buf, static_cast<std::size_t>(len));
  // Open MPI counts the terminating NUL in len; it ended up in summary.json as "\u0000".
  if (auto end = s.find_first_of(std::string("\n\0", 2)); end != std::string::npos) s.resize(end);
  return s;
}

}  // namespace batchlab::realtrain
