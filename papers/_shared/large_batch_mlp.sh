#!/usr/bin/env bash
# The second simulated arm of papers/you2017_lars, you2019_lamb and nado2021_reality_check:
# momentum, Nesterov, Adam, LARS and LAMB on the sampled teacher-student MLP
# (experiments/configs/paper_large_batch_mlp.ini). Run once, reused: batchlab sweep resumes a
# finished study in no time, so the second and third paper cost nothing. The wall-clock of the
# run that did the trials is kept in sweep_timing.json. Delete papers/_shared/results/ to redo it.
#   usage: large_batch_mlp.sh BATCHLAB_BIN QUICK(0|1)   -> prints the results directory
set -euo pipefail
BIN=$1
if (( $2 )); then set -- --quick; else set --; fi  # common.sh reads --quick from its arguments
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh" "$@"
OUT="$HERE/results/large_batch_mlp"; EXTRA=()
if (( QUICK )); then OUT="$HERE/results/large_batch_mlp_quick"; EXTRA=(--study.lr_grid=log:1e-3:3:6 --study.batch_sizes=8,128,2048); fi
timed_study_run sweep "$BIN" "$REPO/experiments/configs/paper_large_batch_mlp.ini" "$OUT" "${EXTRA[@]}"
echo "$OUT"
