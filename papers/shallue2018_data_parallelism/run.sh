#!/usr/bin/env bash
# Shallue et al. 2019 on this machine: steps to 85% test accuracy vs global batch size for the
# Fashion-MNIST MLP, real data-parallel training (2 ranks under mpirun), through the study shared
# with mccandlish2018 (papers/_shared/real_fmnist.sh). Full grid (5 batch sizes x 3 lrs): about an
# hour on this loaded 2-core machine; --quick (3 batch sizes, the sqrt rule's lr): ~10-15 min.
# The Simple CNN / CIFAR-10 / ImageNet configs for longer runs and clusters are listed in README.md.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh" "$@"
BIN=$(batchlab_bin rt)
fresh_out
STUDY=$("$PAPERS_DIR/_shared/real_fmnist.sh" "$BIN" "$QUICK")
ln -sfn "$STUDY" "$OUT/study"
finish
