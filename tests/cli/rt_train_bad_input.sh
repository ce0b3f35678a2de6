#!/usr/bin/env bash
# Bad input to `batchlab train`: exactly one line on stderr, exit status 2, nothing written --
# alone and, for a batch (or a batch-schedule cap) not divisible by the ranks, under mpiexec with
# 2 ranks (rank 0 prints).
#   bash rt_train_bad_input.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
set -u
bin=$1 scratch=$3
source "$(dirname "${BASH_SOURCE[0]}")/lib_fmnist.sh"
data=$FMNIST
fail() { echo "rt_train_bad_input: FAIL: $*"; exit 1; }
rm -rf "$scratch" && mkdir -p "$scratch"
out=$scratch/out
ok=(--data-dir "$data" --steps 5 --threads 1 --output "$out")

# expect PATTERN ARGS...: exit 2, one stderr line matching PATTERN, no output directory.
expect() {
  local pattern=$1; shift
  "$bin" train "$@" >"$scratch/stdout" 2>"$scratch/stderr"
  local status=$?
  ((status == 2)) || fail "'$*': exit $status, expected 2 ($(cat "$scratch/stderr"))"
  (($(wc -l <"$scratch/stderr") == 1)) || fail "'$*': expected one stderr line, got: $(cat "$scratch/stderr")"
  grep -q -- "$pattern" "$scratch/stderr" || fail "'$*': message '$(cat "$scratch/stderr")' lacks '$pattern'"
  [[ ! -e $out ]] || fail "'$*': output directory written"
}
expect "unknown model 'vgg16'" "${ok[@]}" --model vgg16
expect "optimizer = rmsprop: unknown" "${ok[@]}" --optimizer rmsprop
expect "sync" "${ok[@]}" --sync local:0
expect "sync" "${ok[@]}" --sync sometimes
# DiLoCo (docs/diloco.md)
expect "train.sync = diloco:0: .*H = 0: must be > 0" "${ok[@]}" --sync diloco:0
expect "F = 3 must divide H = 8" "${ok[@]}" --sync streaming-diloco:8:3
expect "outer bits = 5: must be one of 32, 16, 8, 4" "${ok[@]}" --sync diloco:4 --outer-bits 5
expect "train.outer = adam: unknown (nesterov, sgd)" "${ok[@]}" --sync diloco:4 --outer adam
expect "H = -2: must be > 0" "${ok[@]}" --sync diloco:-2
expect "F = 0: must be > 0" "${ok[@]}" --sync streaming-diloco:8:0
expect "F = 1000 fragments but model 'mlp:1' has 805 parameters (F must divide H and be at most" \
  "${ok[@]}" --model mlp:1 --sync streaming-diloco:1000:1000
expect "outer-rounding = up: unknown (nearest, stochastic)" "${ok[@]}" --sync diloco:4 --outer-rounding up
expect "overlap steps = 4: must be in \[1, H)" "${ok[@]}" --sync diloco:4 --outer-overlap --outer-overlap-steps 4
expect "batch-lr-coupling = 'cubic'\|batch-lr-coupling = cubic" "${ok[@]}" --batch-milestones 1000 --batch-factor 2 --batch-lr-coupling cubic
expect "data-dir = /nonexistent/dir: directory does not exist" --data-dir /nonexistent/dir --steps 5 --output "$out"
expect "exactly one of --epochs and --steps" "${ok[@]}" --epochs 1
expect "bogus" "${ok[@]}" --bogus 3
expect "batch-size" "${ok[@]}" --batch-size abc
expect "warmup" "${ok[@]}" --warmup sometimes
expect "scaling" "${ok[@]}" --scaling cubic
# Shampoo's settings (optim/shampoo.h)
expect "optimizer.precond_eps = 0: must be > 0" "${ok[@]}" --optimizer shampoo --precond-eps 0
expect "optimizer.precond_every = 0: must be >= 1" "${ok[@]}" --optimizer shampoo --precond-every 0
expect "optimizer.shampoo_max_dim = 0: must be >= 1" "${ok[@]}" --optimizer shampoo --shampoo-max-dim 0
expect "optimizer.shampoo_graft = 'lamb': must be adam, sgd or none" "${ok[@]}" --optimizer shampoo --shampoo-graft lamb
# K-FAC (realtrain/kfac.h): settings, and models with layers it does not cover (named)
expect "train.precondition = shampoo: unknown (none, kfac)" "${ok[@]}" --precondition shampoo
expect "train.kfac-damping = 0: must be > 0" "${ok[@]}" --precondition kfac --kfac-damping 0
expect "train.kfac-damping = -0.1: must be > 0" "${ok[@]}" --precondition kfac --kfac-damping -0.1
expect "train.kfac-decay = 1: must be in \\[0, 1)" "${ok[@]}" --precondition kfac --kfac-decay 1
expect "train.kfac-stats-every = 0: must be >= 1" "${ok[@]}" --precondition kfac --kfac-stats-every 0
expect "train.precond-every = 0: must be >= 1" "${ok[@]}" --precondition kfac --precond-every 0
expect "train.precond-every = -3: must be >= 1" "${ok[@]}" --precondition kfac --precond-every -3
expect "train.precondition = kfac: model 'resnet8' has layer 'bn1' (BatchNorm2d), which K-FAC does not support" \
  "${ok[@]}" --precondition kfac --model resnet8
expect "train.precondition = kfac: model 'vit:7-16-1-2' has .*, which K-FAC does not support" \
  "${ok[@]}" --precondition kfac --model vit:7-16-1-2
# batch-size schedule (Smith et al. 2018)
expect "batch-milestones = '200,100': 100 does not exceed the previous milestone 200" "${ok[@]}" --batch-milestones 200,100 --batch-factor 5
expect "batch-milestones = 'abc'" "${ok[@]}" --batch-milestones abc --batch-factor 5
expect "batch-factor = 0.000000: must be > 0" "${ok[@]}" --batch-milestones 1000 --batch-factor 0
expect "batch-max = 64: is below --batch-size 128" "${ok[@]}" --batch-milestones 1000 --batch-factor 5 --batch-max 64
expect "batch-factor = 5.000000: has no effect without --batch-milestones" "${ok[@]}" --batch-factor 5
expect "batch-max = 0: the batch schedule grows the batch to 1280000, more than the 60000 training examples" \
  "${ok[@]}" --batch-milestones 1000,2000 --batch-factor 100

root_flag=()
[[ $(id -u) == 0 ]] && root_flag=(--allow-run-as-root)
OMP_NUM_THREADS=1 timeout 120 mpiexec -np 2 --oversubscribe "${root_flag[@]}" "$bin" train "${ok[@]}" \
  --batch-size 65 >"$scratch/mpi_stdout" 2>"$scratch/mpi_stderr"
status=$?
((status != 0 && status != 124)) || fail "under mpiexec: status $status, expected a failed job"
(($(grep -c "divisible by the number of ranks (2)" "$scratch/mpi_stderr") == 1)) \
  || fail "under mpiexec: expected the message once (rank 0 only): $(cat "$scratch/mpi_stderr")"
[[ ! -e $out ]] || fail "under mpiexec: output directory written"
# A cap that does not split over the ranks (BatchSchedule rounds the grown batches, not the cap).
OMP_NUM_THREADS=1 timeout 120 mpiexec -np 2 --oversubscribe "${root_flag[@]}" "$bin" train "${ok[@]}" \
  --batch-milestones 1000 --batch-factor 5 --batch-max 257 >"$scratch/mpi_stdout" 2>"$scratch/mpi_stderr"
status=$?
((status != 0 && status != 124)) || fail "under mpiexec (batch-max): status $status, expected a failed job"
(($(grep -c "batch-max = 257: global batch must be divisible by the number of ranks (2)" "$scratch/mpi_stderr") == 1)) \
  || fail "under mpiexec (batch-max): expected the message once (rank 0 only): $(cat "$scratch/mpi_stderr")"
[[ ! -e $out ]] || fail "under mpiexec (batch-max): output directory written"
echo "rt_train_bad_input: ok"
