#!/usr/bin/env bash
# The sweep shared by papers/you2017_lars, you2019_lamb and nado2021_reality_check: momentum,
# Nesterov, Adam, LARS and LAMB on the badly scaled sampled NQM
# (experiments/configs/paper_large_batch_nqm.ini). Run once, reused: batchlab sweep resumes a
# finished study in no time, so the second and third paper cost nothing. The wall-clock of the
# run that did the trials is kept in sweep_timing.json. Delete papers/_shared/results/ to redo it.
# The run itself is common.sh's shared_sweep; this file holds what is this sweep's own: its name
# (config and results directory) and its quick grid (6 lrs x 3 batch sizes).
#   usage: large_batch_nqm.sh BATCHLAB_BIN QUICK(0|1)   -> prints the results directory
set -euo pipefail
BIN=$1
if (( $2 )); then set -- --quick; else set --; fi  # common.sh reads --quick from its arguments
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh" "$@"
shared_sweep large_batch_nqm "$BIN" --study.lr_grid=log:1e-4:3:6 --study.batch_sizes=16,1024,65536
