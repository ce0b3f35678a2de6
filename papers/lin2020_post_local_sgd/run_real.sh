#!/usr/bin/env bash
# Lin et al. 2020, real-training part (called by run.sh; runs alone too): the Fashion-MNIST MLP on
# K = 2 ranks, global batch 512, 2 epochs, sync vs post-local:8@117 (H = 8 after the lr decay at
# epoch 1) (experiments/configs/paper_lin2020_real_fmnist.ini). ~5-10 min on this loaded machine.
# Writes results/real/{sync,post_local,timing.json}.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh" "$@"
CFG="$REPO/experiments/configs/paper_lin2020_real_fmnist.ini"
BIN=$(batchlab_bin rt)
OUT="$OUT/real"; fresh_out
cd "$REPO"
"$BIN" study "$CFG" --output.dir="$OUT/sync" --no-plot
"$BIN" study "$CFG" --train.sync=post-local:8@117 --output.dir="$OUT/post_local" --no-plot
write_timing "$OUT"
