#!/usr/bin/env bash
# The simulator side of batchlab never loads LibTorch: `--help`, `sweep` (--check and a real
# run), `noise-scale`, `plot --help`, `plan --help` and `study --check` (the study driver validates trials with
# the trainer's torch-free rules) map no libtorch*.so, while `batchlab train --help` does (it execs
# batchlab-train): the positive control that the dynamic-loader trace would show LibTorch at all.
# usage: no_libtorch.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
set -euo pipefail
BIN=$1 SRC=$2 SCRATCH=$3
rm -rf "$SCRATCH" && mkdir -p "$SCRATCH" && cd "$SCRATCH"
fail() { echo "FAIL: $*"; exit 1; }

# Number of libtorch objects the dynamic loader opens for "$@" (its stdout and status ignored).
torch_loads() { (LD_DEBUG=libs "$BIN" "$@" 2>&1 >/dev/null || true) | grep -c 'calling init:.*libtorch' || true; }

check_none() {
  local n
  n=$(torch_loads "$@")
  [[ $n == 0 ]] || fail "batchlab $* loaded $n libtorch libraries"
  echo "ok: batchlab $* loads no libtorch"
}
check_none --help
check_none sweep --check "$SRC/experiments/configs/nqm_zhang2019.ini"
check_none sweep "$SRC/experiments/configs/ci_small.ini" --output.dir="$SCRATCH/sweep" --no-plot
[[ -s $SCRATCH/sweep/steps_vs_batch.csv ]] || fail "the sweep wrote no steps_vs_batch.csv"
check_none noise-scale "$SRC/experiments/configs/ci_small.ini" --output.dir="$SCRATCH/ns" --noise_scale.samples=20
check_none plot --help
check_none plan --help
if "$BIN" --help | grep -q '^  study'; then
  check_none study --check "$SRC/experiments/configs/real_fmnist_mlp.ini" --output.dir="$SCRATCH/study"
  n=$(torch_loads train --help)
  ((n > 0)) || fail "batchlab train --help loaded no libtorch: the trace does not show LibTorch loads"
  echo "ok: batchlab train --help loads libtorch ($n objects): the trace sees it"
fi
