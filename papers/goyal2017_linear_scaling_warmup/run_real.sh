#!/usr/bin/env bash
# Goyal et al. 2017, real-training part (called by run.sh; runs alone too): the Fashion-MNIST MLP
# on 2 ranks with the linear rule (lr 0.03 per 128) at B = 512, 2048 and 4096, without and with gradual
# warm-up over 50 steps from the B = 128 lr (experiments/configs/paper_goyal2017_real_fmnist.ini).
# ~10-15 min on this loaded 2-core machine. Writes results/real/{no_warmup,warmup,timing.json}.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh" "$@"
real_studies "$REPO/experiments/configs/paper_goyal2017_real_fmnist.ini" \
  no_warmup "warmup=--train.warmup=gradual --train.warmup-steps=50"
