#!/usr/bin/env bash
# The real-training MLP study of papers/mccandlish2018_noise_scale (shallue2018 runs the Simple
# CNN instead): `batchlab study experiments/configs/paper_real_fmnist_mlp.ini`
# (Fashion-MNIST MLP, 2 ranks under mpirun, steps to 85% test accuracy vs batch size, B_simple
# measured by the trainer). Full grid: 5 batch sizes x 3 lrs, about an hour on this loaded
# 2-core machine; quick: 3 batch sizes x the rule's lr only (~10-15 min). Resumable and reused:
# a finished study costs nothing the second time. The wall-clock of the run that did the trials
# is kept in study_timing.json. Delete papers/_shared/results/real_fmnist* to redo it.
#   usage: real_fmnist.sh BATCHLAB_BIN QUICK(0|1)   -> prints the results directory
set -euo pipefail
BIN=$1
if (( $2 )); then set -- --quick; else set --; fi  # common.sh reads --quick from its arguments
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh" "$@"
OUT="$HERE/results/real_fmnist"; EXTRA=()
if (( QUICK )); then
  OUT="$HERE/results/real_fmnist_quick"; EXTRA=(--study.batch_sizes=64,512,4096 --study.lr_grid=scaled:1:1:1)
fi
timed_study_run study "$BIN" "$REPO/experiments/configs/paper_real_fmnist_mlp.ini" "$OUT" "${EXTRA[@]}"
echo "$OUT"
