#!/usr/bin/env bash
# The launch scripts under a real Slurm (scripts/slurm-local, started by scripts/test):
# realtrain/launch/fmnist_cpu.slurm as a 2-task batch job (srun --mpi=pmix), run_fmnist_mpi.sh
# inside `salloc -n 2` (mpirun within the allocation), each a short MLP run whose summary.json must
# say 2 ranks; and the GPU scripts through `sbatch --test-only` (refused only for the GPU request
# this machine cannot satisfy; accepted with it replaced).
# Exit 77 (ctest: skipped) when no local Slurm answers: scripts/test starts one and fails on skips.
# usage: slurm_launch.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
set -uo pipefail
BIN=$1 SRC=$2 SCRATCH=$3
fail() { echo "slurm_launch: FAIL: $*"; exit 1; }
source "$SRC/tests/cli/lib_slurm.sh"
rm -rf "$SCRATCH" && mkdir -p "$SCRATCH" && cd "$SCRATCH" || exit 1

ranks_of() {
  /usr/bin/python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["provenance"]["ranks"], s["steps"])' "$1/summary.json"
}

# 1. The batch script, submitted from the repository root as its header says.
(cd "$SRC" && BATCHLAB_BIN=$BIN timeout 300 sbatch --wait --output="$SCRATCH/job-%j.out" \
  realtrain/launch/fmnist_cpu.slurm --model mlp --steps 30 --eval-every 30 --output "$SCRATCH/sbatch_out") \
  >"$SCRATCH/sbatch.log" 2>&1 || { cat "$SCRATCH"/sbatch.log "$SCRATCH"/job-*.out; fail "sbatch fmnist_cpu.slurm"; }
[[ $(ranks_of "$SCRATCH/sbatch_out") == "2 30" ]] || { cat "$SCRATCH"/job-*.out; fail "sbatch job: ranks/steps $(ranks_of "$SCRATCH/sbatch_out")"; }
grep -q 'batchlab train: ' "$SCRATCH"/job-*.out || fail "job output lacks the trainer's last line"
echo "ok: sbatch fmnist_cpu.slurm ran 2 ranks (srun --mpi=pmix)"

# 2. mpirun inside an allocation.
BATCHLAB_BIN=$BIN NP=2 timeout 300 salloc -n 2 "$SRC/realtrain/launch/run_fmnist_mpi.sh" --model mlp --steps 20 \
  --eval-every 20 --output "$SCRATCH/salloc_out" >"$SCRATCH/salloc.log" 2>&1 || { cat "$SCRATCH/salloc.log"; fail "salloc run_fmnist_mpi.sh"; }
[[ $(ranks_of "$SCRATCH/salloc_out") == "2 20" ]] || fail "salloc run: ranks/steps $(ranks_of "$SCRATCH/salloc_out")"
echo "ok: run_fmnist_mpi.sh under salloc -n 2 ran 2 ranks (mpirun in the allocation)"

# 3. The GPU scripts' directives.
for s in cifar10_resnet20 imagenet_resnet50; do
  out=$(sbatch --test-only "$SRC/realtrain/launch/$s.slurm" 2>&1)
  grep -q 'Invalid generic resource (gres) specification' <<<"$out" || fail "$s.slurm --test-only: $out"
  out=$(sbatch --test-only --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --gpus-per-node=0 "$SRC/realtrain/launch/$s.slurm" 2>&1) \
    || fail "$s.slurm --test-only without its GPUs: $out"
  grep -q 'to start at' <<<"$out" || fail "$s.slurm --test-only: $out"
  echo "ok: $s.slurm: refused only for its GPU request; accepted without it"
done
