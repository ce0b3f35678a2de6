#!/usr/bin/env bash
# The real arm of Zhang et al. 2019 (issue 15): the NQM predicts that preconditioning extends
# perfect batch scaling to larger B and lowers the plateau of steps to target. Checked on real
# training: the Fashion-MNIST MLP study (experiments/configs/real_fmnist_mlp.ini: test accuracy
# 0.85, 2 ranks x 1 thread, budget 2 epochs or 160 steps) with Shampoo (optim/shampoo.h, Adam
# graft) and K-FAC + momentum SGD (realtrain/kfac.h) beside the committed momentum-SGD study of the same config
# (papers/_shared/fmnist_real_study/mlp).
# Reduced grid (time): B = 64, 256, 1024, 4096, 16384 (every other batch size of the momentum
# study), 2 lrs per batch size (x0.5, x1 of the square-root rule's), one seed.
# --quick: B = 256, 4096 and the rule's lr only. The studies resume (a finished one costs nothing
# the second time); real_report.py writes the README's real section, figure_real.png and
# summary_real.csv. Long (see the README for the time here): run it under `nice -n 10`.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh" "$@"
BIN=$(batchlab_bin rt)
OUT="$HERE/results_real"; (( QUICK )) && OUT+="_quick"
mkdir -p "$OUT"
GRID=(--study.batch_sizes=64,256,1024,4096,16384 --study.lr_grid=scaled:0.5:1:2)
(( QUICK )) && GRID=(--study.batch_sizes=256,4096 --study.lr_grid=scaled:1:1:1)
CFG="$REPO/experiments/configs/real_fmnist_mlp.ini"
# Shampoo: the Adam-grafted step (its lr is an Adam lr: 0.002 at B = 128), inverse 4th roots
# every 10 updates.
timed_study_run study "$BIN" "$CFG" "$OUT/shampoo" "${GRID[@]}" --study.name=fmnist_mlp_shampoo \
  --train.optimizer=shampoo --train.lr=0.002 --train.precond-every=10
# K-FAC (realtrain/kfac.h) in front of the same momentum SGD (0.9): damping 1e-3, factor decay
# 0.95, statistics every update, inverses every 10 updates; factors all-reduced over the 2 ranks.
# Its lr is that of a natural-gradient step (0.001 at B = 128, square-root scaled like the others).
timed_study_run study "$BIN" "$CFG" "$OUT/kfac" "${GRID[@]}" --study.name=fmnist_mlp_kfac \
  --train.precondition=kfac --train.lr=0.001 --train.precond-every=10
write_timing "$OUT"
"$PY" "$HERE/real_report.py" "$OUT"
