#!/usr/bin/env bash
# `batchlab sweep` with Shampoo on a simulated landscape with matrix-shaped parameters (the
# sampled MLP of experiments/configs/shampoo_mlp.ini, cut to 2 batch sizes x 3 lrs): it reaches
# the target at some lr for both batch sizes, and its bad settings are one line and exit 2.
# usage: sweep_shampoo.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
set -euo pipefail
BIN=$1 SRC=$2 SCRATCH=$3
rm -rf "$SCRATCH" && mkdir -p "$SCRATCH" && cd "$SCRATCH"
CFG=$SRC/experiments/configs/shampoo_mlp.ini
fail() { echo "FAIL: $*"; exit 1; }

"$BIN" sweep "$CFG" --output.dir="$SCRATCH/s" --optimizer.name=shampoo --study.batch_sizes=16,128 \
  --study.lr_grid=log:0.003:0.1:3 --no-plot > s.out
cat s.out
grep -q "^shampoo " s.out || fail "no B_crit line for shampoo"
rows=$(awk -F, 'NR > 1 && $3 == "shampoo" && $8 == "reached"' "$SCRATCH/s/trials.csv" | cut -d, -f4 | sort -u | wc -l)
[[ $rows -eq 2 ]] || fail "shampoo reached the target at $rows of 2 batch sizes: $(cat "$SCRATCH/s/trials.csv")"

bad() {  # bad setting, expected text
  set +e
  "$BIN" sweep "$CFG" --output.dir="$SCRATCH/bad" --no-plot "$1" > bad.out 2> bad.err
  local rc=$?
  set -e
  [[ $rc -eq 2 ]] || fail "$1: exit $rc, expected 2"
  [[ $(wc -l < bad.err) -eq 1 ]] || fail "$1: not one line: $(cat bad.err)"
  grep -qF "$2" bad.err || fail "$1: message $(cat bad.err) lacks '$2'"
}
bad --optimizer.precond_eps=0 "optimizer.precond_eps = 0: must be > 0"
bad --optimizer.precond_every=0 "optimizer.precond_every = 0: must be >= 1"
bad --optimizer.shampoo_max_dim=0 "optimizer.shampoo_max_dim = 0: must be >= 1"
echo "sweep_shampoo: ok"
