#!/usr/bin/env bash
# The real arm of Zhang et al. 2019 (issue 15): the NQM predicts that preconditioning extends
# perfect batch scaling to larger B and lowers the plateau of steps to target. Checked on real
# training: the Fashion-MNIST MLP study (experiments/configs/real_fmnist_mlp.ini: test accuracy
# 0.85, 2 ranks x 1 thread, budget 2 epochs or 160 steps) with K-FAC + momentum SGD
# (realtrain/kfac.h) and Shampoo (optim/shampoo.h, Adam graft) beside the committed momentum-SGD
# study of the same config (papers/_shared/fmnist_real_study/mlp).
# What runs (the record in the README is one full run of this), reduced for time on 2 CPUs shared
# by 4 jobs (1-min load average 12-15 during the record): one seed, 2 lrs per batch size (x0.5, x1
# of the square-root rule's; the momentum study had 5, x0.25 .. x4); K-FAC at B = 64, 256, 1024,
# 4096, 16384 (every other batch size of the momentum study); Shampoo at B = 256, 1024, 4096 only
# (B = 64 and 16384 cut: in the earlier Shampoo-only run neither reached the target within the
# budget, and at this load they alone would have taken about 40 minutes). Not run (time): a wider
# lr grid (the README says on which edge each best lr sits), more seeds.
# The Simple CNN arm: K-FAC and Shampoo (the same updates and lrs) on the committed momentum study
# papers/_shared/fmnist_real_study/simple_cnn_small with that study's own config.ini and grid: B = 64,
# 256, 1024 (Shampoo at 256, 1024 only: time), the rule's lr only (Shampoo: x0.25 and x1 of it),
# test accuracy 0.85, budget 1.5 epochs or 100 steps, 2 ranks; no bench-step profiles or plans for
# it (time).
# Then the preconditioner's cost: per arm (momentum SGD too) one `batchlab bench-step` profile of its
# update (2 ranks, local batches B / 2, the arm's update-rule options) and `batchlab plan` of its
# study with it (K = 2, the arm's B), the three profiles back to back in this run.
# --quick: B = 256, 4096 and the rule's lr only (the Simple CNN at B = 256), profiles at those 2
# local batches. The studies resume (a finished one costs nothing the second time); real_report.py
# writes the README's real section, figure_real.png and summary_real.csv. Long (see the README for
# the time here): run it under `nice -n 5`.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh" "$@"
BIN=$(batchlab_bin rt)
OUT="$HERE/results_real"; (( QUICK )) && OUT+="_quick"
mkdir -p "$OUT"
BATCHES_kfac=64,256,1024,4096,16384 BATCHES_shampoo=256,1024,4096 BATCHES_momentum=64,256,1024,4096,16384
LOCAL=32,128,512,2048,8192  # B / 2 of every B above: the profiles are measured at the same points
LRS=scaled:0.5:1:2
if (( QUICK )); then
  BATCHES_kfac=256,4096 BATCHES_shampoo=256,4096 BATCHES_momentum=256,4096 LOCAL=128,2048 LRS=scaled:1:1:1
fi
CFG="$REPO/experiments/configs/real_fmnist_mlp.ini"
MOMENTUM_STUDY="$REPO/papers/_shared/fmnist_real_study/mlp"
# Each arm's update: the same option names for the study's trials (--train.NAME=V) and for its
# bench-step profile (--NAME=V).
UPDATE_momentum=(optimizer=momentum momentum=0.9)
# K-FAC (realtrain/kfac.h) in front of the same momentum SGD (0.9): damping 1e-3, factor decay
# 0.95, statistics every update, inverses every 10 updates; factors all-reduced over the 2 ranks.
UPDATE_kfac=(optimizer=momentum momentum=0.9 precondition=kfac precond-every=10)
# Shampoo: the Adam-grafted step, inverse 4th roots every 10 updates.
UPDATE_shampoo=(optimizer=shampoo precond-every=10)
# K-FAC's lr is that of a natural-gradient step (0.001 at B = 128), Shampoo's an Adam lr (0.002 at
# B = 128), square-root scaled like the others.
timed_study_run study "$BIN" "$CFG" "$OUT/kfac" --study.batch_sizes=$BATCHES_kfac --study.lr_grid=$LRS \
  --study.name=fmnist_mlp_kfac \
  --train.lr=0.001 "${UPDATE_kfac[@]/#/--train.}"
timed_study_run study "$BIN" "$CFG" "$OUT/shampoo" --study.batch_sizes=$BATCHES_shampoo --study.lr_grid=$LRS \
  --study.name=fmnist_mlp_shampoo \
  --train.lr=0.002 "${UPDATE_shampoo[@]/#/--train.}"
# The Simple CNN arm: the committed momentum study's own config and grid (its config.ini: B = 64, 256,
# 1024, the rule's lr only, budget 1.5 epochs or 100 steps), the same two updates and lrs as above.
CNN_CFG="$REPO/papers/_shared/fmnist_real_study/simple_cnn_small/config.ini"
# Shampoo at B = 256, 1024 only (B = 64 cut for time: at the record's load its trial ran 250 steps in
# 108 s at test accuracy 0.65-0.75 and its budget is 1407 steps), and at x0.25 and x1 of its lr: at
# x1 alone its B = 1024 trial stayed at chance (test accuracy 0.10-0.12 over its 100 steps).
CNN_KFAC=(); CNN_SHAMPOO=(--study.batch_sizes=256,1024 --study.lr_grid=scaled:0.25:1:2)
(( QUICK )) && CNN_KFAC=(--study.batch_sizes=256) CNN_SHAMPOO=(--study.batch_sizes=256)
timed_study_run study "$BIN" "$CNN_CFG" "$OUT/cnn_kfac" "${CNN_KFAC[@]}" --study.name=fmnist_simple_cnn_kfac \
  --train.lr=0.001 "${UPDATE_kfac[@]/#/--train.}"
timed_study_run study "$BIN" "$CNN_CFG" "$OUT/cnn_shampoo" "${CNN_SHAMPOO[@]}" --study.name=fmnist_simple_cnn_shampoo \
  --train.lr=0.002 "${UPDATE_shampoo[@]/#/--train.}"

# The preconditioner's cost in the answer: profile each arm's update on this machine, back to back
# (the same load reaches the three alike), then time to target = S(B) x step time by the planner.
MPI=(mpirun -np 2 --allow-run-as-root --bind-to none -x OMP_NUM_THREADS=1)
for arm in momentum kfac shampoo; do
  declare -n update="UPDATE_$arm" batches="BATCHES_$arm"
  study="$OUT/$arm"; [[ $arm == momentum ]] && study=$MOMENTUM_STUDY
  echo "bench-step $arm (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  (cd "$REPO" && "${MPI[@]}" "$BIN" bench-step --model mlp --threads 1 --loader-threads 1 --local-batches "$LOCAL" \
    --rounds 1 --min-time 0.2 "${update[@]/#/--}" --output "$OUT/profile_$arm.json" > "$OUT/bench_$arm.log")
  "$BIN" plan "$study" --profile "$OUT/profile_$arm.json" --workers 2 --batch-sizes "$batches" --no-plot \
    --output "$OUT/plan_$arm" > "$OUT/plan_$arm.log"
  unset -n update batches
done
times > "$OUT/cpu_times.txt"  # user and system seconds of this shell, then of its children
write_timing "$OUT"
"$PY" "$HERE/real_report.py" "$OUT"
