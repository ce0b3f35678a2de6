#!/usr/bin/env bash
# `batchlab train --precondition kfac` (realtrain/kfac.h) in front of momentum SGD: the MLP
# (three Linear layers, factors 785/257/257 x 256/256/10) reaches 81% test accuracy within 600
# steps of batch 128, and a resumed run equals the straight one (K-FAC's factors and inverses are
# restored); the checks are lib_train_precond.sh's.
#   bash rt_train_kfac.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib_train_precond.sh"
name=rt_train_kfac
arm=(--optimizer momentum --precondition kfac --lr 0.001)
precond_train_test "$1" "$3"
