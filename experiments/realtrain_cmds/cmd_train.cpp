// TEMPORARY placeholder until the owning change lands.
#include <cstdio>
#include "experiments/commands.h"
namespace batchlab::cli {
int cmd_train(int, char**) { std::fprintf(stderr, "batchlab: 'train' is not built yet\n"); return 2; }
}  // namespace batchlab::cli
