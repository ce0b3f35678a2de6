#include "realtrain/cpu_memory.h"

#include <malloc.h>
#include <sys/resource.h>

#include <cstdlib>

namespace batchlab::realtrain {

bool keep_freed_memory_for_reuse() {
  if (std::getenv("BATCHLAB_DEFAULT_MALLOC") != nullptr) return false;
  const bool no_mmap = mallopt(M_MMAP_MAX, 0) == 1;
  const bool no_trim = mallopt(M_TRIM_THRESHOLD, static_cast<int>(0x7fffffff)) == 1;  // ~2 GiB: int
  return no_mmap && no_trim;
}

void restore_default_malloc() {
  mallopt(M_MMAP_MAX, 65536);             // glibc's DEFAULT_MMAP_MAX
  mallopt(M_TRIM_THRESHOLD, 128 * 1024);  // DEFAULT_TRIM_THRESHOLD
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);  // DEFAULT_MMAP_THRESHOLD (fixed from here on)
}

std::int64_t minor_page_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<std::int64_t>(u.ru_minflt);
}

}  // namespace batchlab::realtrain
