// The CPU allocator setting every LibTorch process of batchlab runs with (batchlab train,
// bench-step, calibrate: experiments/cli/train_main.cpp), and the page-fault counter that
// shows what it changes.
//
// glibc's malloc serves an allocation above its mmap threshold (128 KiB at start, raised
// dynamically up to 32 MiB) with a fresh mmap and returns it to the kernel on free, and trims the
// top of the heap when more than the trim threshold is free. A training step allocates its
// activations and gradients anew every update (tens of MB for a CNN at b = 256), so with the
// defaults every update page-faults them in again: on this project's 2-core machine the Simple
// CNN's update at b = 256 took 465 ms that way and 179 ms with the setting below
// (experiments/bench/cpu_malloc.sh), and whether an update was fast or slow depended on what the
// process had allocated before (evaluations in between made later updates faster), which no
// step-time model can predict
// (docs/profile_schema.md, "The CPU allocator"). PyTorch's CPU docs recommend jemalloc or
// tcmalloc for the same reason; Debian's LibTorch links glibc's malloc, so batchlab sets it.
#pragma once

#include <cstdint>

namespace batchlab::realtrain {

// mallopt(M_MMAP_MAX, 0) and mallopt(M_TRIM_THRESHOLD, 2 GiB, the largest int mallopt takes):
// every allocation comes from the heap and freed memory stays in the process for the next update. The resident size then stays
// at the run's peak instead of shrinking between updates. Skipped (returns false) when the
// environment variable BATCHLAB_DEFAULT_MALLOC is set, to measure or run with glibc's defaults.
bool keep_freed_memory_for_reuse();

// glibc's defaults again (mmap above a dynamic threshold, trim at 128 KiB), for tests.
void restore_default_malloc();

// Minor page faults of this process so far (getrusage ru_minflt).
std::int64_t minor_page_faults();

}  // namespace batchlab::realtrain
