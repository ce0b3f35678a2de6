#!/usr/bin/env bash
# you2019_lamb: the shared large-batch sweep on the badly scaled sampled NQM (papers/_shared/large_batch_nqm.sh:
# momentum, Nesterov, Adam, LARS, LAMB; ~10 min on 2 shared cores the first time, reused after),
# the same five on the sampled teacher-student MLP (papers/_shared/large_batch_mlp.sh, ~10 min the first time),
# and the shared real study (Fashion-MNIST MLP at B = 4096, 2 ranks, ~15-20 min the first time),
# then report.py writes this paper's table, figure.png and the README numbers.
# --quick: 6 lrs x 3 batch sizes in each simulated sweep (the real study is the same).
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh" "$@"
large_batch_paper
