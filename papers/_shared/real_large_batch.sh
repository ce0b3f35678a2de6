#!/usr/bin/env bash
# The real-training study shared by papers/you2017_lars, you2019_lamb and
# nado2021_reality_check: `batchlab study experiments/configs/paper_large_batch_real_fmnist.ini`
# (Fashion-MNIST MLP, 2 ranks under mpirun, B = 4096, four optimizers x 3 lrs: ~15-20 min on this
# loaded 2-core machine; no reduced mode, QUICK is accepted and runs the same). Resumable and
# reused: a finished study costs nothing the second time. The wall-clock of the run that did the
# trials is kept in study_timing.json. Delete papers/_shared/results/real_large_batch to redo it.
#   usage: real_large_batch.sh BATCHLAB_BIN QUICK(0|1)   -> prints the results directory
set -euo pipefail
BIN=$1
if (( $2 )); then set -- --quick; else set --; fi  # common.sh reads --quick from its arguments
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh" "$@"
OUT="$HERE/results/real_large_batch"
timed_study_run study "$BIN" "$REPO/experiments/configs/paper_large_batch_real_fmnist.ini" "$OUT"
echo "$OUT"
