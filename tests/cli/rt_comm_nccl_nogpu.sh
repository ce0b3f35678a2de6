#!/usr/bin/env bash
# `batchlab train --backend nccl` where no CUDA device is visible: one clear line on stderr
# naming the cause, exit status 2, before any work -- alone and under mpirun with 2 ranks
# (where only rank 0 prints).
#   bash rt_comm_nccl_nogpu.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
set -u
bin=$1 scratch=$3
fail() { echo "rt_comm_nccl_nogpu: FAIL: $*"; exit 1; }
# Hide every CUDA device (mpiexec passes the environment on to its local ranks), so the no-GPU
# error is provoked on a GPU node too and this test never has a reason to skip. It is registered
# only in builds with the NCCL communicator (tests/CMakeLists.txt); without it the message differs.
export CUDA_VISIBLE_DEVICES=-1  # an invalid index: CUDA lists no device from there on
rm -rf "$scratch" && mkdir -p "$scratch"
expected='batchlab train: nccl backend: no CUDA device visible (cudaGetDeviceCount: '

"$bin" train --backend nccl --output "$scratch/out" >"$scratch/stdout" 2>"$scratch/stderr"
status=$?
((status == 2)) || fail "exit status $status, expected 2 (stderr: $(cat "$scratch/stderr"))"
(($(wc -l <"$scratch/stderr") == 1)) || fail "expected one line on stderr, got: $(cat "$scratch/stderr")"
[[ $(cat "$scratch/stderr") == "$expected"*")" ]] || fail "unexpected message: $(cat "$scratch/stderr")"
[[ ! -e $scratch/out ]] || fail "output directory was created before the error"

root_flag=()
[[ $(id -u) == 0 ]] && root_flag=(--allow-run-as-root)
timeout 120 mpiexec -np 2 --oversubscribe "${root_flag[@]}" "$bin" train --backend nccl --output "$scratch/out" \
  >"$scratch/mpi_stdout" 2>"$scratch/mpi_stderr"
status=$?
((status != 0 && status != 124)) || fail "under mpiexec: status $status, expected a failed job"
(($(grep -c "^$expected" "$scratch/mpi_stderr") == 1)) || fail "under mpiexec: expected the message once from rank 0: $(cat "$scratch/mpi_stderr")"
echo "rt_comm_nccl_nogpu: ok: $(cat "$scratch/stderr")"
