#!/usr/bin/env bash
# Zhang et al. 2019 on the analytic NQM: steps to target vs batch size for SGD, heavy-ball
# momentum, diagonal preconditioning and iterate EMA; then report.py writes the README numbers
# and figure.png. Full run: 36 min measured here (2 cores at load ~16, shared); --quick (40 lrs,
# 2 EMA decays) is well under that.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh" "$@"
BIN=$(batchlab_bin sim)
EXTRA=()
(( QUICK )) && EXTRA=(--study.lr_grid=log:1e-4:4:40 --study.ema_grid=0.9,0.99 --study.batch_sizes=pow2:2:20)
fresh_out
"$BIN" sweep "$REPO/experiments/configs/paper_zhang2019_nqm.ini" --output.dir="$OUT/sweep" --no-plot "${EXTRA[@]}"
finish
