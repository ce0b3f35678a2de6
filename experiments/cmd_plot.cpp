// TEMPORARY placeholder until the owning change lands.
#include <cstdio>
#include "experiments/commands.h"
namespace batchlab::cli {
int cmd_plot(int, char**) { std::fprintf(stderr, "batchlab: 'plot' is not built yet\n"); return 2; }
}  // namespace batchlab::cli
