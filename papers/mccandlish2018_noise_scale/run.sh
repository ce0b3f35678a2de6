#!/usr/bin/env bash
# McCandlish et al. 2018 on the NQM: measured critical batch size B_crit (fit of steps-to-target
# vs B, SGD with the best lr per B) at several targets, against the gradient noise scale
# (B_simple, B_noise) from `batchlab noise-scale` at the start and, along training, from the
# exact NQM moments (report.py). Full: a few minutes on 2 shared cores; --quick: 24 lrs.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh" "$@"
HERE="$PAPERS_DIR/mccandlish2018_noise_scale"
CFG="$REPO/experiments/configs/paper_mccandlish2018_nqm.ini"
BIN=$(batchlab_bin sim)
OUT="$HERE/results"; EXTRA=()
if (( QUICK )); then OUT="$HERE/results_quick"; EXTRA=(--study.lr_grid=log:1e-4:4:24); fi
rm -rf "$OUT"
"$BIN" noise-scale "$CFG" --output.dir="$OUT/noise_scale"
for target in 1 0.3 0.1 0.03 0.01 0.003; do
  "$BIN" sweep "$CFG" --study.target=$target --output.dir="$OUT/target_$target" --no-plot "${EXTRA[@]}"
done
write_timing "$OUT"
"$PY" "$HERE/report.py" "$OUT"
