#!/usr/bin/env bash
# Fashion-MNIST data-parallel training on this machine: NP MPI ranks (default 2) x 1 torch thread,
# MPI backend (CPU tensors). Extra arguments go to `batchlab train` and override the defaults
# below, e.g.
#   realtrain/launch/run_fmnist_mpi.sh --model mlp --epochs 2 --output /tmp/fmnist_mlp
# Environment: BATCHLAB_BIN (default build/release/experiments/batchlab), NP (ranks),
# FMNIST_DIR (default /usr/share/datasets/fashion-mnist), LAUNCH (mpirun, the default, also inside
# a Slurm allocation; or srun: ranks started by Slurm through PMIx, SRUN_MPI default pmix, as
# realtrain/launch/fmnist_cpu.slurm does).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=${BATCHLAB_BIN:-$repo/build/release/experiments/batchlab}
np=${NP:-2}
data=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
if [[ ! -x $bin ]]; then
  echo "run_fmnist_mpi.sh: $bin not found; build it (cmake --preset release && cmake --build --preset release) or set BATCHLAB_BIN" >&2
  exit 2
fi
root_flag=()
[[ $(id -u) == 0 ]] && root_flag=(--allow-run-as-root)  # containers often run as root

# Defaults below apply only where the caller did not pass the option (batchlab rejects an
# option given twice).
args=("$@")
given() {
  local a
  for a in "${args[@]}"; do [[ $a == "$1" || $a == "$1="* ]] && return 0; done
  return 1
}
default() { given "$1" || args+=("$@"); }
default --backend mpi
default --threads 1
default --dataset fashion-mnist
default --data-dir "$data"
default --model simple-cnn
default --batch-size 256
default --optimizer momentum
default --lr 0.05
default --momentum 0.9
given --steps || default --epochs 1  # training length: --epochs or --steps, not both
default --output "${OUTPUT:-fmnist_mpi_out}"

if [[ ${LAUNCH:-mpirun} == srun ]]; then
  export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
  exec srun --mpi="${SRUN_MPI:-pmix}" --kill-on-bad-exit=1 -n "$np" "$bin" train "${args[@]}"
fi
[[ ${LAUNCH:-mpirun} == mpirun ]] || { echo "run_fmnist_mpi.sh: LAUNCH='$LAUNCH' (expected mpirun or srun)" >&2; exit 2; }

# One torch thread per rank; --bind-to none lets the loader and all-reduce progress threads use
# whatever core is idle instead of sharing the compute thread's core. A rank that dies makes
# mpirun tear the job down (tests/cli/rt_comm_kill.sh measures it: about a second).
exec mpirun -np "$np" "${root_flag[@]}" --oversubscribe --bind-to none \
  -x OMP_NUM_THREADS=1 -x MKL_NUM_THREADS=1 "$bin" train "${args[@]}"
