#!/usr/bin/env bash
# `batchlab train --optimizer shampoo`: the MLP (its weights get full Kronecker factors, 784 and
# 256 <= --shampoo-max-dim; biases the diagonal fallback) reaches 81% test accuracy within 600
# steps (it takes ~300) of batch 128, and a resumed run equals the straight one (Shampoo's L, R
# and inverse roots are restored); the checks are lib_train_precond.sh's.
#   bash rt_train_shampoo.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib_train_precond.sh"
name=rt_train_shampoo
arm=(--optimizer shampoo --lr 0.002)
precond_train_test "$1" "$3"
