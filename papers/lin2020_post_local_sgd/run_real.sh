#!/usr/bin/env bash
# Lin et al. 2020, real-training part (called by run.sh; runs alone too): the Fashion-MNIST MLP on
# K = 2 ranks, global batch 512, 2 epochs, sync vs post-local:8@117 (H = 8 after the lr decay at
# epoch 1) (experiments/configs/paper_lin2020_real_fmnist.ini). ~5-10 min on this loaded machine.
# Writes results/real/{sync,post_local,timing.json}.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh" "$@"
real_studies "$REPO/experiments/configs/paper_lin2020_real_fmnist.ini" sync "post_local=--train.sync=post-local:8@117"
