#include "realtrain/process_group.h"

#include <cstdlib>
#include <stdexcept>
#include <utility>

#include <mpi.h>

#include "realtrain/comm_mpi.h"
#ifdef BATCHLAB_HAVE_NCCL
#include "realtrain/nccl/comm_nccl.h"
#endif

namespace batchlab::realtrain {

namespace {

struct GroupSlot {
  std::unique_ptr<ProcessGroup> group;
  bool we_initialized_mpi = false;
  bool atexit_registered = false;
};
GroupSlot& slot() {
  static GroupSlot s;
  return s;
}

int env_int(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return 0;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  return (end != v && *end == '\0' && n > 0 && n < (1L << 30)) ? static_cast<int>(n) : 0;
}

void init_mpi(GroupSlot& s) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  int provided = MPI_THREAD_SINGLE;
  if (!initialized) {
    // Open MPI busy-polls inside blocking calls. A batchlab rank always runs more threads than
    // its core (loader threads, the all-reduce progress thread) and often shares the machine,
    // so a polling rank must yield to the peer it is waiting for: measured with 2 ranks on a
    // loaded 2-core machine, a 1 MB all-reduce took 48 ms polling and 1.0 ms yielding. An
    // explicit setting (environment or mpirun --mca) wins.
    setenv("OMPI_MCA_mpi_yield_when_idle", "1", /*overwrite=*/0);
    // The singleton path (no launcher) works with OpenMPI and MPICH; mpirun/srun provide the rest.
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS) {
      throw std::runtime_error("init_process_group: MPI_Init_thread failed");
    }
    s.we_initialized_mpi = true;
  } else {
    MPI_Query_thread(&provided);
  }
  if (provided < MPI_THREAD_MULTIPLE) {
    throw std::runtime_error("init_process_group: MPI provides thread level " + std::to_string(provided) +
                             ", need MPI_THREAD_MULTIPLE (" + std::to_string(MPI_THREAD_MULTIPLE) + ")");
  }
}

}  // namespace

void SelfCommunicator::allreduce_mean(std::span<const optim::BufferRef> replicas) {
  if (replicas.size() != 1)
    throw std::invalid_argument("SelfCommunicator::allreduce_mean: expected 1 replica, got " +
                                std::to_string(replicas.size()));
}

void SelfCommunicator::broadcast(std::span<const optim::BufferRef> replicas, int root) {
  if (replicas.size() != 1 || root != 0)
    throw std::invalid_argument("SelfCommunicator::broadcast: expected 1 replica and root 0, got " +
                                std::to_string(replicas.size()) + " and root " + std::to_string(root));
}

bool launched_by_mpi_launcher() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MV2_COMM_WORLD_SIZE"}) {
    const char* v = std::getenv(name);
    if (v != nullptr && *v != '\0') return true;
  }
  return launched_with_multiple_ranks();
}

int launcher_rank() {
  for (const char* v : {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID"})
    if (const char* s = std::getenv(v)) return std::atoi(s);
  return 0;
}

bool launched_with_multiple_ranks() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_NTASKS", "MV2_COMM_WORLD_SIZE"}) {
    if (env_int(name) > 1) return true;
  }
  return false;
}

ProcessGroup& init_process_group(const std::string& backend) {
  if (backend != "mpi" && backend != "nccl") {
    throw std::runtime_error("init_process_group: unknown backend '" + backend + "' (expected mpi or nccl)");
  }
#ifdef BATCHLAB_HAVE_NCCL
  // Checked before MPI starts, so a GPU-less machine fails at once with the real reason.
  if (backend == "nccl") nccl::require_cuda_devices();
#else
  if (backend == "nccl") {
    throw std::runtime_error("nccl backend: this batchlab was built without CUDA/NCCL (rebuild with CUDA and NCCL "
                             "visible to CMake)");
  }
#endif
  auto& s = slot();
  if (s.group) {
    if (s.group->backend != backend) {
      throw std::runtime_error("init_process_group: already initialised with backend '" + s.group->backend +
                               "', asked for '" + backend + "'");
    }
    return *s.group;
  }
  int mpi_initialized = 0;
  MPI_Initialized(&mpi_initialized);
  if (backend == "mpi" && !mpi_initialized && !launched_by_mpi_launcher()) {
    auto g = std::make_unique<ProcessGroup>();
    g->backend = backend;
    g->global = std::make_unique<SelfCommunicator>("self:world");
    g->node = std::make_unique<SelfCommunicator>("self:node");
    s.group = std::move(g);
    return *s.group;
  }
  init_mpi(s);
  auto g = std::make_unique<ProcessGroup>();
  g->backend = backend;
  MPI_Comm_rank(MPI_COMM_WORLD, &g->rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g->world);
  MPI_Comm node_comm = MPI_COMM_NULL;
  check_mpi(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g->rank, MPI_INFO_NULL, &node_comm),
            "MPI_Comm_split_type(SHARED)", "world");
  MPI_Comm_rank(node_comm, &g->local_rank);
  MPI_Comm_size(node_comm, &g->local_size);
  try {
    if (backend == "mpi") {
      g->global = std::make_unique<MpiCommunicator>(MPI_COMM_WORLD, "mpi:world");
      g->node = std::make_unique<MpiCommunicator>(node_comm, "mpi:node");
    } else {
#ifdef BATCHLAB_HAVE_NCCL
      g->cuda_device = nccl::select_device(g->local_rank, g->local_size);
      const double timeout_s = nccl::default_timeout_s();
      g->global = nccl::make_communicator(MPI_COMM_WORLD, "nccl:world", timeout_s);
      g->node = nccl::make_communicator(node_comm, "nccl:node", timeout_s);
#endif
    }
  } catch (...) {
    MPI_Comm_free(&node_comm);
    throw;
  }
  MPI_Comm_free(&node_comm);
  s.group = std::move(g);
  if (!s.atexit_registered) {
    // A rank that returns from main without MPI_Finalize makes mpirun report a failed job.
    std::atexit(finalize_process_group);
    s.atexit_registered = true;
  }
  return *s.group;
}

void finalize_process_group() {
  auto& s = slot();
  s.group.reset();  // communicators first: they free MPI/NCCL handles
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (s.we_initialized_mpi && initialized && !finalized) MPI_Finalize();
}


}  // namespace batchlab::realtrain
