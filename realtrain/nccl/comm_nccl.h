// NCCL communicator: one rank per GPU, CUDA device buffers (float32 and float64), the
// ncclUniqueId broadcast over MPI. Compiled only when CUDA and NCCL are found; this header names
// no CUDA or NCCL type, so the rest of realtrain (and a CPU-only LibTorch) never sees them.
//
// Ordering: a collective first waits (cudaStreamWaitEvent) for the work already queued on the
// compute stream, which wrote the buffer, then runs on a dedicated communication stream.
// Failure: while waiting, the host polls ncclCommGetAsyncError; an error, or no completion within
// the timeout (default 60 s, env BATCHLAB_NCCL_TIMEOUT_S), aborts the communicator
// (ncclCommAbort) and throws, so a dead or hung peer cannot hang this rank forever.
#pragma once

#include <memory>
#include <string>

#include <mpi.h>

#include "realtrain/grad_sync.h"

namespace batchlab::realtrain::nccl {

// Number of visible CUDA devices; throws
// "nccl backend: no CUDA device visible (cudaGetDeviceCount: <why>)" when there is none.
int require_cuda_devices();

// One rank per GPU. When every GPU of the node is visible to every rank, rank `local_rank`
// takes device local_rank; when the launcher binds one GPU per task (srun --gpus-per-task=1,
// CUDA_VISIBLE_DEVICES per rank) each rank sees one device and takes device 0. Throws when
// the node has fewer GPUs than ranks. Returns the device chosen.
int select_device(int local_rank, int local_size);

// BATCHLAB_NCCL_TIMEOUT_S if set (a positive number, else throws), otherwise 60.
double default_timeout_s();

// Collective over the ranks of `over` (rank 0 creates the unique id and broadcasts it).
// compute_stream: the cudaStream_t that produces the buffers (nullptr = the legacy default
// stream, which is what LibTorch uses unless told otherwise).
std::unique_ptr<AsyncCommunicator> make_communicator(MPI_Comm over, std::string name, double timeout_s,
                                                     void* compute_stream = nullptr);

// "NCCL <major>.<minor>.<patch>" of the library actually loaded.
std::string version_string();

}  // namespace batchlab::realtrain::nccl
