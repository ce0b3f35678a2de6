#!/usr/bin/env bash
# McCandlish et al. 2018 on the NQM: measured critical batch size B_crit (fit of steps-to-target
# vs B, SGD with the best lr per B) at several targets, against the gradient noise scale
# (B_simple, B_noise) from `batchlab noise-scale` at the start and, along training, from the
# exact NQM moments (report.py); then the same on real Fashion-MNIST training.
# NQM part: under a minute; Fashion-MNIST part: ~1 h here (full grid) or ~10-15 min (--quick).
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh" "$@"
CFG="$REPO/experiments/configs/paper_mccandlish2018_nqm.ini"
BIN=$(batchlab_bin sim)
# --quick shortens only the Fashion-MNIST study: the NQM part is always the full grid (under a minute)
fresh_out
"$BIN" noise-scale "$CFG" --output.dir="$OUT/noise_scale"
for target in 1 0.3 0.1 0.03 0.01 0.003; do
  "$BIN" sweep "$CFG" --study.target=$target --output.dir="$OUT/target_$target" --no-plot
done
# Fashion-MNIST: the real MLP study of papers/_shared/real_fmnist.sh (B_crit from S(B), B_simple measured by the
# trainer's two-batch estimator on 2 ranks). Full grid ~1 h here; --quick ~10-15 min.
STUDY=$("$PAPERS_DIR/_shared/real_fmnist.sh" "$(batchlab_bin rt)" "$QUICK")
ln -sfn "$STUDY" "$OUT/real_fmnist"
finish
