#!/usr/bin/env bash
# Shallue et al. 2019 on this machine: steps to test error < 0.1 (accuracy 0.90) vs global batch
# size for their Simple CNN on Fashion-MNIST, real data-parallel training (2 ranks under mpirun),
# through `batchlab study experiments/configs/real_fmnist_simple_cnn.ini`.
#   full:    B = 2^5 .. 2^11 (7 sizes), the square-root rule's lr, momentum 0.9, 1 seed; then the
#            lr check: 0.5x and 2x that lr at B = 512 and 2048, where the steps plateaued (the 1x
#            trials are copied from the main study by [study] reuse).
#            About 2.5-3 h of trials on this 2-core machine (the README gives the measured sums).
#   --quick: B = 8, 32, 128, 512, 2048 to accuracy 0.85 (~15 min), no lr check.
# REUSE=DIR[,DIR...] is passed as [study] reuse: finished trials of earlier studies with exactly
# the same settings are copied instead of run again (`[study] reuse`, README: `batchlab study`).
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh" "$@"
BIN=$(batchlab_bin rt)
fresh_out
CFG="$REPO/experiments/configs/real_fmnist_simple_cnn.ini"
ARGS=()
if (( QUICK )); then
  ARGS=(--study.batch_sizes=8,32,128,512,2048 --train.target=0.85 --study.max_epochs=2
        --study.max_steps=150 --study.eval_every_examples=16384 --study.eval_every_max=25)
fi
[[ -n "${REUSE:-}" ]] && ARGS+=("--study.reuse=$REUSE")
timed_study_run study "$BIN" "$CFG" "$OUT/study" "${ARGS[@]}"
if (( ! QUICK )); then
  timed_study_run study "$BIN" "$CFG" "$OUT/lr_check" --study.batch_sizes=512,2048 \
    --study.lr_grid=scaled:0.5:2:3 "--study.reuse=$OUT/study${REUSE:+,$REUSE}"
fi
finish
